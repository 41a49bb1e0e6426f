/**
 * The OS image as an OCI artifact (the OS-image contract, part 4): one manifest with
 * `artifactType: application/vnd.monogon.os.image.v1`, a config
 * `{format_version: "1", product_info, payloads: [{name, size, hash_chunk_size,
 * chunk_hashes_sha256}]}` and one uncompressed layer per payload (title annotation = payload
 * name, same order as `payloads`). Chunk hashes are SHA-256 of each 1 MiB chunk, base64 without
 * padding (as upstream Monogon writes them). Manifests and configs come from a registry or a
 * medium, so both are decoded strictly; a payload is only trusted chunk by chunk
 * ({@link verifyChunks}).
 * @module
 */
import { z } from "zod";

/** OCI media types and the OS-image artifact types. */
export const OCI_MEDIA_TYPES = Object.freeze({
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  osImage: "application/vnd.monogon.os.image.v1",
  osImageConfig: "application/vnd.monogon.os.image.config.v1+json",
  payload: "application/octet-stream",
});

/** Annotation naming a layer's payload. */
export const TITLE_ANNOTATION = "org.opencontainers.image.title";

/** The config format this code reads and writes. */
export const FORMAT_VERSION = "1";

/** Chunk size of the payload hashes (1 MiB). */
export const HASH_CHUNK_SIZE = 1024 * 1024;

/** Upper bound on a chunk size a reader accepts (a chunk is held in memory). */
export const MAX_HASH_CHUNK_SIZE = 16 * 1024 * 1024;

/** Payloads of a node OS image. */
export const PAYLOAD_NAMES = Object.freeze(
  ["system", "boot-a.efi", "boot-b.efi", "installer.efi"] as const,
);

/** A payload name. */
export type PayloadName = typeof PAYLOAD_NAMES[number];

/** The UKI payload of a slot. */
export function slotPayload(slot: "a" | "b"): "boot-a.efi" | "boot-b.efi" {
  return slot === "a" ? "boot-a.efi" : "boot-b.efi";
}

/** `sha256:<64 hex>`. */
export const DigestSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, "want sha256:<64 hex>");

const PAYLOAD_NAME_RE = /^[0-9A-Za-z-][0-9A-Za-z._-]{0,78}[0-9A-Za-z_-]$|^[0-9A-Za-z-]$/;

/** An OCI content descriptor. */
export const DescriptorSchema = z.object({
  mediaType: z.string().min(1).max(255),
  digest: DigestSchema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  annotations: z.record(z.string(), z.string()).optional(),
  artifactType: z.string().optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

/** An OCI image manifest as the OS image uses it. */
export const ManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(OCI_MEDIA_TYPES.manifest),
  artifactType: z.string(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema).max(64),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** What a payload's config entry says about it. */
export const PayloadInfoSchema = z.object({
  name: z.string().regex(PAYLOAD_NAME_RE, "invalid payload name"),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  hash_chunk_size: z.number().int().positive().max(MAX_HASH_CHUNK_SIZE),
  chunk_hashes_sha256: z.array(z.string().regex(/^[A-Za-z0-9+/]{43}$/, "not a base64 SHA-256")),
});
export type PayloadInfo = z.infer<typeof PayloadInfoSchema>;

/** Product information of the image (upstream's `ProductInfo`, the fields this project fills). */
export const ProductInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  variant: z.string(),
  commit_hash: z.string(),
  commit_date: z.string().optional(),
  build_tree_dirty: z.boolean().optional(),
  components: z.array(z.object({ id: z.string(), version: z.string() })).optional(),
});
export type ProductInfo = z.infer<typeof ProductInfoSchema>;

/** The OS image config. */
export const ConfigSchema = z.object({
  format_version: z.string(),
  product_info: ProductInfoSchema,
  payloads: z.array(PayloadInfoSchema).max(64),
});
export type Config = z.infer<typeof ConfigSchema>;

/** An OCI image index (`index.json` of a layout). */
export const IndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(DescriptorSchema).min(1).max(64),
});

/** The OS image is malformed, incomplete or does not match its hashes. */
export class OsImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OsImageError";
  }
}

/** One payload: its layer descriptor and config entry. */
export interface Payload {
  layer: Descriptor;
  info: PayloadInfo;
}

/** A checked OS image: manifest, config and payloads by name. */
export interface OsImage {
  manifest: Manifest;
  config: Config;
  payloads: Map<string, Payload>;
}

function firstIssue(e: z.ZodError): string {
  const i = e.issues[0];
  return `${i.path.join(".") || "(root)"}: ${i.message}`;
}

function parseJson<T>(what: string, bytes: Uint8Array, schema: z.ZodType<T>): T {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new OsImageError(`${what} is not JSON: ${(e as Error).message}`);
  }
  const r = schema.safeParse(v);
  if (!r.success) throw new OsImageError(`${what} is invalid: ${firstIssue(r.error)}`);
  return r.data;
}

/** Decodes a manifest (bytes already checked against their digest by the caller). */
export function parseManifest(bytes: Uint8Array): Manifest {
  const m = parseJson("OS image manifest", bytes, ManifestSchema);
  if (m.artifactType !== OCI_MEDIA_TYPES.osImage) {
    throw new OsImageError(`not an OS image: artifact type ${JSON.stringify(m.artifactType)}`);
  }
  if (m.config.mediaType !== OCI_MEDIA_TYPES.osImageConfig) {
    throw new OsImageError(`unexpected config media type ${JSON.stringify(m.config.mediaType)}`);
  }
  return m;
}

/** Number of chunks of a payload. */
export function chunkCount(info: Pick<PayloadInfo, "size" | "hash_chunk_size">): number {
  return Math.ceil(info.size / info.hash_chunk_size);
}

/**
 * Decodes the config (bytes checked against the manifest's config digest by the caller) and
 * pairs it with the manifest's layers; throws {@link OsImageError} on any inconsistency.
 */
export function parseOsImage(manifest: Manifest, configBytes: Uint8Array): OsImage {
  const config = parseJson("OS image config", configBytes, ConfigSchema);
  if (config.format_version !== FORMAT_VERSION) {
    throw new OsImageError(`unsupported OS image format version ${config.format_version}`);
  }
  if (config.payloads.length !== manifest.layers.length) {
    throw new OsImageError(
      `${manifest.layers.length} layers but ${config.payloads.length} payloads in the config`,
    );
  }
  const payloads = new Map<string, Payload>();
  config.payloads.forEach((info, i) => {
    const layer = manifest.layers[i];
    const title = layer.annotations?.[TITLE_ANNOTATION];
    if (title !== undefined && title !== info.name) {
      throw new OsImageError(`layer ${i} is titled ${title} but payload ${i} is ${info.name}`);
    }
    if (payloads.has(info.name)) throw new OsImageError(`payload ${info.name} appears twice`);
    if (layer.mediaType !== OCI_MEDIA_TYPES.payload) {
      throw new OsImageError(`payload ${info.name} has media type ${layer.mediaType}`);
    }
    if (layer.size !== info.size) {
      throw new OsImageError(`payload ${info.name}: layer size ${layer.size} ≠ ${info.size}`);
    }
    if (info.chunk_hashes_sha256.length !== chunkCount(info)) {
      throw new OsImageError(
        `payload ${info.name}: ${info.chunk_hashes_sha256.length} chunk hashes for ` +
          `${chunkCount(info)} chunks`,
      );
    }
    payloads.set(info.name, { layer, info });
  });
  return { manifest, config, payloads };
}

/** Throws `OS image lacks payload <name>` for the first of `names` the image does not carry. */
export function requirePayloads(img: OsImage, names: readonly string[]): void {
  for (const n of names) {
    if (!img.payloads.has(n)) throw new OsImageError(`OS image lacks payload ${n}`);
  }
}

/** Hex SHA-256 of bytes. */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `sha256:<hex>` of bytes. */
export async function digestOf(data: Uint8Array): Promise<string> {
  return `sha256:${await sha256Hex(data)}`;
}

/** Base64 (no padding) SHA-256 of one chunk, as `chunk_hashes_sha256` holds it. */
export async function chunkHash(chunk: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", chunk as BufferSource));
  return btoa(String.fromCharCode(...d)).replace(/=+$/, "");
}

/** Regroups a byte stream into chunks of exactly `size` bytes (the last may be shorter). */
export async function* rechunk(
  src: AsyncIterable<Uint8Array>,
  size: number,
): AsyncGenerator<Uint8Array> {
  let buf = new Uint8Array(size);
  let fill = 0;
  for await (const piece of src) {
    let off = 0;
    while (off < piece.length) {
      const n = Math.min(size - fill, piece.length - off);
      buf.set(piece.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === size) {
        yield buf;
        buf = new Uint8Array(size);
        fill = 0;
      }
    }
  }
  if (fill) yield buf.subarray(0, fill);
}

/**
 * Yields the payload in its hash chunks, each only after its SHA-256 matched the config; throws
 * {@link OsImageError} on the first mismatching chunk, on excess data and on a short payload.
 * A consumer that writes each yielded chunk has written only verified bytes.
 */
export async function* verifyChunks(
  src: AsyncIterable<Uint8Array>,
  info: PayloadInfo,
): AsyncGenerator<Uint8Array> {
  let i = 0;
  let total = 0;
  const n = chunkCount(info);
  for await (const chunk of rechunk(src, info.hash_chunk_size)) {
    if (i >= n) throw new OsImageError(`payload ${info.name}: more than ${info.size} bytes`);
    const expect = Math.min(info.hash_chunk_size, info.size - total);
    if (chunk.length !== expect) {
      throw new OsImageError(
        `payload ${info.name}: ends after ${total + chunk.length} of ${info.size} bytes`,
      );
    }
    if ((await chunkHash(chunk)) !== info.chunk_hashes_sha256[i]) {
      throw new OsImageError(`payload ${info.name}: chunk ${i} does not match its hash`);
    }
    total += chunk.length;
    i++;
    yield chunk;
  }
  if (total !== info.size) {
    throw new OsImageError(`payload ${info.name}: ends after ${total} of ${info.size} bytes`);
  }
}

/** Computes a payload's config entry from its content. */
export async function payloadInfo(
  name: string,
  src: AsyncIterable<Uint8Array>,
): Promise<PayloadInfo> {
  const hashes: string[] = [];
  let size = 0;
  for await (const chunk of rechunk(src, HASH_CHUNK_SIZE)) {
    hashes.push(await chunkHash(chunk));
    size += chunk.length;
  }
  return { name, size, hash_chunk_size: HASH_CHUNK_SIZE, chunk_hashes_sha256: hashes };
}
