/**
 * Builds OCI image-layout archives without a registry: uncompressed tar layers, an image config,
 * a manifest and an `index.json` naming the image, all inside one tar (`oci-layout`,
 * `index.json`, `blobs/sha256/…`) that `ctr -n k8s.io images import` accepts. Deterministic:
 * the same inputs give byte-identical archives (fixed mtimes, sorted entries, no timestamps).
 */
import { type TarEntry, writeTar } from "./tar.ts";

/** Media types used (OCI image spec v1). */
export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar",
} as const;

/** What an image runs; mirrors the OCI image config's `config` object. */
export interface ImageRunConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  /** e.g. `8080/tcp`. */
  exposedPorts?: string[];
  user?: string;
}

/** An image to build: a full reference and its layers (bottom first). */
export interface ImageSpec {
  /** Full reference, e.g. `preseed.metropolis.internal/e2e/httpserver:latest`. */
  ref: string;
  /** Filesystem layers, bottom first; each is a list of tar entries. */
  layers: TarEntry[][];
  config: ImageRunConfig;
  /** Default `amd64`. */
  architecture?: string;
}

/** A content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

/** The result of building an image. */
export interface BuiltImage {
  /** The OCI archive (tar of an image layout). */
  archive: Uint8Array;
  /** Digest of the manifest, `sha256:…`. */
  manifestDigest: string;
  /** Digest of the config (the image ID containerd shows), `sha256:…`. */
  configDigest: string;
}

const REF_RE =
  /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)+:[\w][\w.-]{0,127}$/;

async function sha256(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));
  return "sha256:" + Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** Builds the OCI archive of one image. Throws on an invalid reference or empty layer list. */
export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  if (!REF_RE.test(spec.ref)) {
    throw new Error(`oci: bad image reference ${JSON.stringify(spec.ref)} (want host/path:tag)`);
  }
  if (spec.layers.length === 0) throw new Error(`oci: image ${spec.ref} has no layers`);
  const blobs = new Map<string, Uint8Array>();
  const layerDescs: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const entries of spec.layers) {
    const tar = writeTar(entries);
    const digest = await sha256(tar);
    blobs.set(digest, tar);
    diffIds.push(digest); // uncompressed layers: diff ID = blob digest
    layerDescs.push({ mediaType: MEDIA_TYPES.layer, digest, size: tar.length });
  }
  const c = spec.config;
  const architecture = spec.architecture ?? "amd64";
  const config = json({
    architecture,
    os: "linux",
    config: {
      ...(c.user ? { User: c.user } : {}),
      ...(c.exposedPorts
        ? { ExposedPorts: Object.fromEntries(c.exposedPorts.map((p) => [p, {}])) }
        : {}),
      Env: c.env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      ...(c.entrypoint ? { Entrypoint: c.entrypoint } : {}),
      ...(c.cmd ? { Cmd: c.cmd } : {}),
      ...(c.workingDir ? { WorkingDir: c.workingDir } : {}),
    },
    rootfs: { type: "layers", diff_ids: diffIds },
  });
  const configDigest = await sha256(config);
  blobs.set(configDigest, config);
  const manifest = json({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: configDigest, size: config.length },
    layers: layerDescs,
  });
  const manifestDigest = await sha256(manifest);
  blobs.set(manifestDigest, manifest);
  const index = json({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [{
      mediaType: MEDIA_TYPES.manifest,
      digest: manifestDigest,
      size: manifest.length,
      // Both names, so containerd (io.containerd.image.name) and other OCI tools agree.
      annotations: {
        "io.containerd.image.name": spec.ref,
        "org.opencontainers.image.ref.name": spec.ref,
      },
      platform: { architecture, os: "linux" },
    }],
  });
  const entries: TarEntry[] = [
    { path: "oci-layout", type: "file", data: json({ imageLayoutVersion: "1.0.0" }) },
    { path: "index.json", type: "file", data: index },
  ];
  for (const [digest, data] of blobs) {
    entries.push({ path: `blobs/sha256/${digest.slice(7)}`, type: "file", data });
  }
  return { archive: writeTar(entries), manifestDigest, configDigest };
}
