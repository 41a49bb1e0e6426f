/**
 * SHA-256 helpers for cache keys, manifests and reproducibility checks.
 * @module
 */
import { createHash } from "node:crypto";

/** Hex SHA-256 of a byte array or string. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Hex SHA-256 of a file, streamed (kernel tarballs and disk images are large). */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  const f = await Deno.open(path); // the readable closes it at EOF
  for await (const chunk of f.readable) h.update(chunk);
  return h.digest("hex");
}

/** Hex SHA-256 over several labelled parts, unambiguous (length-prefixed). */
export function sha256Parts(parts: (Uint8Array | string)[]): string {
  const h = createHash("sha256");
  for (const p of parts) {
    const b = typeof p === "string" ? new TextEncoder().encode(p) : p;
    h.update(`${b.length}:`);
    h.update(b);
  }
  return h.digest("hex");
}
