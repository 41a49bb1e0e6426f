/**
 * PE/COFF header fix-ups for reproducible UKIs: objcopy (binutils 2.40) stamps the current time
 * into the COFF header and ignores SOURCE_DATE_EPOCH, so the stamp is rewritten and the
 * optional-header checksum recomputed.
 * @module
 */

/** The PE image checksum (the algorithm of `CheckSumMappedFile`), skipping the field itself. */
export function peChecksum(b: Uint8Array, checksumOffset: number): number {
  let sum = 0;
  const n = b.length & ~1;
  for (let i = 0; i < n; i += 2) {
    if (i === checksumOffset || i === checksumOffset + 2) continue;
    sum += b[i] | (b[i + 1] << 8);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (b.length & 1) {
    sum += b[b.length - 1];
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum + b.length) >>> 0;
}

/** Sets the COFF TimeDateStamp of the PE file at `path` to `epoch` and fixes the checksum. */
export async function setPeTimestamp(path: string, epoch: number): Promise<void> {
  const b = await Deno.readFile(path);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint16(0, true) !== 0x5a4d) throw new Error(`${path}: not a PE file (no MZ header)`);
  const pe = v.getUint32(0x3c, true);
  if (v.getUint32(pe, true) !== 0x00004550) throw new Error(`${path}: no PE signature`);
  v.setUint32(pe + 8, epoch >>> 0, true);
  // Optional header starts after the 4-byte signature and the 20-byte COFF header; CheckSum is
  // at offset 64 in both PE32 and PE32+.
  const checksumOffset = pe + 24 + 64;
  v.setUint32(checksumOffset, peChecksum(b, checksumOffset), true);
  await Deno.writeFile(path, b);
}
