/**
 * A read-only OCI distribution client for OS images (OCI distribution spec v1.1, pull side):
 * `GET /v2/<repository>/manifests/<digest>` and `GET /v2/<repository>/blobs/<digest>`, over
 * http or https, always pinned by digest: the manifest's bytes must hash to the requested
 * digest and the config's to the manifest's descriptor, and payloads are handed out as streams
 * that the caller verifies chunk by chunk against the config (osimage `verifyChunks`). A tag is
 * only informational (upstream sends it nowhere either when a digest is given).
 * @module
 */
import {
  digestOf,
  DigestSchema,
  OCI_MEDIA_TYPES,
  type OsImage,
  parseManifest,
  parseOsImage,
} from "../osimage/ociimage.ts";
import type { ImageSource } from "../osimage/oci_layout.ts";

/** Where an OS image lives (`metropolis.proto.api.OSImageRef`). */
export interface ImageRef {
  scheme: string;
  host: string;
  repository: string;
  tag?: string;
  digest: string;
}

/** Why a fetch failed, for the caller's status code. */
export type RegistryErrorKind =
  /** The reference itself is malformed (caller error). */
  | "invalid"
  /** The registry could not be reached or answered with a server error. */
  | "unreachable"
  /** The registry does not have the manifest or blob. */
  | "not-found"
  /** Content did not match its digest, or is not a valid OS image. */
  | "bad-content";

/** A registry fetch failed; `kind` classifies it, the message is one line. */
export class RegistryError extends Error {
  constructor(readonly kind: RegistryErrorKind, message: string) {
    super(message);
    this.name = "RegistryError";
  }
}

const REPO_RE =
  /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const HOST_RE = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;

/** Checks a reference; throws {@link RegistryError} `invalid` with the first defect. */
export function checkImageRef(r: ImageRef): void {
  const bad = (m: string) => new RegistryError("invalid", m);
  if (r.scheme !== "http" && r.scheme !== "https") {
    throw bad(`unsupported scheme ${JSON.stringify(r.scheme)} (want http or https)`);
  }
  if (!HOST_RE.test(r.host)) throw bad(`invalid host ${JSON.stringify(r.host)}`);
  if (!REPO_RE.test(r.repository)) throw bad(`invalid repository ${JSON.stringify(r.repository)}`);
  if (!r.digest) throw bad("missing digest");
  if (!DigestSchema.safeParse(r.digest).success) {
    throw bad(`invalid digest ${JSON.stringify(r.digest)} (want sha256:<64 hex>)`);
  }
}

/** Options of {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** Per-request timeout for manifest and config (default 30 s). */
  timeoutMs?: number;
  /** Aborts everything (a cancelled update). */
  signal?: AbortSignal;
  /** `fetch` to use (tests). */
  fetch?: typeof fetch;
  /** User-Agent header. */
  userAgent?: string;
}

const MAX_MANIFEST = 1024 * 1024;
const MAX_CONFIG = 8 * 1024 * 1024;

/** A fetched, checked OS image whose payloads can be streamed (unverified: `verifyChunks`). */
export interface FetchedImage extends ImageSource {
  ref: ImageRef;
}

/** Pull client for one registry repository. */
export class RegistryClient {
  readonly #o: RegistryClientOptions;
  readonly #base: string;

  constructor(readonly ref: ImageRef, o: RegistryClientOptions = {}) {
    checkImageRef(ref);
    this.#o = o;
    this.#base = `${ref.scheme}://${ref.host}/v2/${ref.repository}`;
  }

  async #get(path: string, accept: string, timeout: boolean): Promise<Response> {
    const signals = [
      this.#o.signal,
      timeout ? AbortSignal.timeout(this.#o.timeoutMs ?? 30_000) : undefined,
    ]
      .filter((s): s is AbortSignal => !!s);
    const url = `${this.#base}/${path}`;
    let res: Response;
    try {
      res = await (this.#o.fetch ?? fetch)(url, {
        headers: {
          Accept: accept,
          ...(this.#o.userAgent ? { "User-Agent": this.#o.userAgent } : {}),
        },
        signal: signals.length ? AbortSignal.any(signals) : undefined,
      });
    } catch (e) {
      const m = (e as Error).message.split("\n")[0];
      throw new RegistryError("unreachable", `registry ${this.ref.host} unreachable: ${m}`);
    }
    if (res.ok) return res;
    await res.body?.cancel();
    if (res.status === 404) {
      throw new RegistryError("not-found", `${url}: not found (HTTP 404)`);
    }
    throw new RegistryError(
      res.status >= 500 ? "unreachable" : "bad-content",
      `${url}: HTTP ${res.status}`,
    );
  }

  async #readLimited(res: Response, max: number, what: string): Promise<Uint8Array> {
    const declared = Number(res.headers.get("content-length") ?? "0");
    if (declared > max) {
      await res.body?.cancel();
      throw new RegistryError("bad-content", `${what} of ${declared} bytes exceeds ${max}`);
    }
    const parts: Uint8Array[] = [];
    let n = 0;
    for await (const c of res.body ?? []) {
      n += c.length;
      if (n > max) throw new RegistryError("bad-content", `${what} exceeds ${max} bytes`);
      parts.push(c);
    }
    const out = new Uint8Array(n);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  /** Fetches and checks manifest and config. */
  async fetchImage(): Promise<FetchedImage> {
    const digest = this.ref.digest;
    const mres = await this.#get(`manifests/${digest}`, OCI_MEDIA_TYPES.manifest, true);
    const mbytes = await this.#readLimited(mres, MAX_MANIFEST, "manifest");
    const got = await digestOf(mbytes);
    if (got !== digest) {
      throw new RegistryError(
        "bad-content",
        `manifest digest mismatch: want ${digest}, got ${got}`,
      );
    }
    let image: OsImage;
    try {
      const manifest = parseManifest(mbytes);
      const cres = await this.#get(`blobs/${manifest.config.digest}`, "*/*", true);
      const cbytes = await this.#readLimited(cres, MAX_CONFIG, "config");
      if ((await digestOf(cbytes)) !== manifest.config.digest) {
        throw new RegistryError(
          "bad-content",
          `config does not match digest ${manifest.config.digest}`,
        );
      }
      image = parseOsImage(manifest, cbytes);
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      throw new RegistryError("bad-content", (e as Error).message);
    }
    return {
      ref: this.ref,
      image,
      openPayload: async (name) => {
        const p = image.payloads.get(name);
        if (!p) throw new RegistryError("bad-content", `OS image lacks payload ${name}`);
        const res = await this.#get(`blobs/${p.layer.digest}`, "*/*", false);
        return res.body ?? (async function* () {})();
      },
    };
  }
}
