/**
 * GPT GUIDs on disk: the first three fields are little-endian, the last two are byte strings
 * (UEFI spec, appendix A). Text form is lower case, so comparisons are plain string equality
 * after {@link normalizeGuid}.
 * @module
 */

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const hex = (b: number) => b.toString(16).padStart(2, "0");

/** Decodes the 16 bytes at `off` of `b` into the textual form. */
export function decodeGuid(b: Uint8Array, off = 0): string {
  if (off < 0 || off + 16 > b.length) throw new RangeError(`GUID at ${off} is out of bounds`);
  const g = b.subarray(off, off + 16);
  const le = (from: number, n: number) => {
    let s = "";
    for (let i = n - 1; i >= 0; i--) s += hex(g[from + i]);
    return s;
  };
  const be = (from: number, n: number) => Array.from(g.subarray(from, from + n), hex).join("");
  return `${le(0, 4)}-${le(4, 2)}-${le(6, 2)}-${be(8, 2)}-${be(10, 6)}`;
}

/** Returns the lower-case form of `s`; throws on anything that is not a GUID. */
export function normalizeGuid(s: string): string {
  const l = s.toLowerCase();
  if (!GUID_RE.test(l)) throw new TypeError(`not a GUID: ${JSON.stringify(s)}`);
  return l;
}

/** Encodes a textual GUID into its 16-byte on-disk form. */
export function encodeGuid(s: string): Uint8Array {
  const h = normalizeGuid(s).replaceAll("-", "");
  const bytes = Uint8Array.from({ length: 16 }, (_, i) => parseInt(h.slice(2 * i, 2 * i + 2), 16));
  // Swap the three little-endian fields back.
  bytes.subarray(0, 4).reverse();
  bytes.subarray(4, 6).reverse();
  bytes.subarray(6, 8).reverse();
  return bytes;
}
