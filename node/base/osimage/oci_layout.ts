/**
 * The OS image as an OCI image-layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`):
 * written by the image build from the payload files, read by metroctl genusb, the installer and
 * the test registry. Reading checks the manifest and config against their digests, so a layout
 * on a medium is exactly as trustworthy as the digest the reader was given (or, without one, as
 * the medium).
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { closeFile } from "../sys/close.ts";
import {
  type Config,
  digestOf,
  IndexSchema,
  OCI_MEDIA_TYPES,
  type OsImage,
  OsImageError,
  parseManifest,
  parseOsImage,
  payloadInfo,
  type ProductInfo,
  TITLE_ANNOTATION,
} from "./ociimage.ts";

/** A payload file to put into a layout. */
export interface PayloadFile {
  name: string;
  path: string;
}

/** Path of a blob in a layout directory. */
export function blobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(":");
  return join(dir, "blobs", alg, hex);
}

async function fileDigest(path: string): Promise<string> {
  const h = createHash("sha256");
  const f = await Deno.open(path);
  try {
    for await (const c of f.readable) h.update(c);
  } finally {
    closeFile(f);
  }
  return `sha256:${h.digest("hex")}`;
}

/**
 * Writes the OS image layout into `dir` (created; existing blobs are replaced). Deterministic:
 * the same payloads and product info give the same manifest digest. Returns it.
 */
export async function writeOsImageLayout(
  dir: string,
  payloads: PayloadFile[],
  productInfo: ProductInfo,
): Promise<{ manifestDigest: string; manifestSize: number }> {
  await Deno.mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  const enc = new TextEncoder();
  const layers = [];
  const infos = [];
  for (const p of payloads) {
    const info = await (async () => {
      const f = await Deno.open(p.path);
      try {
        return await payloadInfo(p.name, f.readable);
      } finally {
        closeFile(f);
      }
    })();
    const digest = await fileDigest(p.path);
    await Deno.copyFile(p.path, blobPath(dir, digest));
    infos.push(info);
    layers.push({
      mediaType: OCI_MEDIA_TYPES.payload,
      digest,
      size: info.size,
      annotations: { [TITLE_ANNOTATION]: p.name },
    });
  }
  const config: Config = { format_version: "1", product_info: productInfo, payloads: infos };
  const put = async (bytes: Uint8Array) => {
    const digest = await digestOf(bytes);
    await Deno.writeFile(blobPath(dir, digest), bytes);
    return { digest, size: bytes.length };
  };
  const configDesc = await put(enc.encode(JSON.stringify(config)));
  const manifest = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MEDIA_TYPES.manifest,
    artifactType: OCI_MEDIA_TYPES.osImage,
    config: { mediaType: OCI_MEDIA_TYPES.osImageConfig, ...configDesc },
    layers,
  }));
  const m = await put(manifest);
  await Deno.writeTextFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  await Deno.writeTextFile(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MEDIA_TYPES.index,
      manifests: [{ mediaType: OCI_MEDIA_TYPES.manifest, ...m }],
    }),
  );
  return { manifestDigest: m.digest, manifestSize: m.size };
}

/** A layout read back: the checked image plus where its blobs are. */
export interface OsImageLayout {
  dir: string;
  manifestDigest: string;
  /** The manifest exactly as stored (served by the test registry). */
  manifestBytes: Uint8Array;
  image: OsImage;
  /** Path of a payload's blob. */
  payloadPath(name: string): string | undefined;
}

async function readVerified(dir: string, digest: string, maxBytes: number): Promise<Uint8Array> {
  const path = blobPath(dir, digest);
  const st = await Deno.stat(path).catch(() => {
    throw new OsImageError(`blob ${digest} is missing from ${dir}`);
  });
  if (st.size > maxBytes) throw new OsImageError(`blob ${digest} is larger than ${maxBytes} bytes`);
  const bytes = await Deno.readFile(path);
  if ((await digestOf(bytes)) !== digest) {
    throw new OsImageError(`blob ${digest} in ${dir} does not match its digest`);
  }
  return bytes;
}

/** Reads and checks the (first) OS image of the layout in `dir`. */
export async function readOsImageLayout(dir: string): Promise<OsImageLayout> {
  let index;
  try {
    index = IndexSchema.parse(JSON.parse(await Deno.readTextFile(join(dir, "index.json"))));
  } catch (e) {
    throw new OsImageError(`${dir}/index.json: ${(e as Error).message.split("\n")[0]}`);
  }
  const desc = index.manifests[0];
  const manifestBytes = await readVerified(dir, desc.digest, 1024 * 1024);
  const manifest = parseManifest(manifestBytes);
  const config = await readVerified(dir, manifest.config.digest, 4 * 1024 * 1024);
  const image = parseOsImage(manifest, config);
  return {
    dir,
    manifestDigest: desc.digest,
    manifestBytes,
    image,
    payloadPath: (name) => {
      const p = image.payloads.get(name);
      return p ? blobPath(dir, p.layer.digest) : undefined;
    },
  };
}

/** An OS image whose payloads can be streamed (a registry download or a layout on a medium). */
export interface ImageSource {
  image: OsImage;
  /** Streams a payload (unverified: pass it through `verifyChunks`). */
  openPayload(name: string): Promise<AsyncIterable<Uint8Array>>;
}

/** The OS image of the layout in `dir` as an {@link ImageSource} (installer medium, tests). */
export async function layoutSource(dir: string): Promise<ImageSource & OsImageLayout> {
  const l = await readOsImageLayout(dir);
  return {
    ...l,
    openPayload: async (name) => {
      const p = l.payloadPath(name);
      if (!p) throw new OsImageError(`OS image lacks payload ${name}`);
      return (await Deno.open(p)).readable;
    },
  };
}
