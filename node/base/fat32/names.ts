/**
 * FAT directory names: 8.3 short names and VFAT long-name (LFN) entries (Microsoft FAT
 * specification, "FAT: General Overview of On-Disk Format" 1.03, §6–7). Every name that is not
 * already an upper-case 8.3 name gets LFN entries plus a unique `BASENA~N.EXT` short name, so
 * names keep their case on every reader.
 * @module
 */

const SHORT_OK = /^[A-Z0-9!#$%&'()@^_`{}~-]{1,8}(\.[A-Z0-9!#$%&'()@^_`{}~-]{1,3})?$/;
const LFN_FORBIDDEN = /["*/:<>?\\|]/;
const hasControl = (s: string) => [...s].some((c) => c.charCodeAt(0) < 0x20 || c === "\u007f");

/** Whether `name` is usable on FAT (LFN rules: no control characters or `"*\/:<>?\|`). */
export function checkName(name: string): void {
  if (
    !name || name === "." || name === ".." || name.length > 255 || LFN_FORBIDDEN.test(name) ||
    hasControl(name)
  ) {
    throw new RangeError(`fat32: invalid file name ${JSON.stringify(name)}`);
  }
  if (name.endsWith(".") || name.endsWith(" ")) {
    throw new RangeError(`fat32: file name ${JSON.stringify(name)} ends with a dot or space`);
  }
}

/** The 11-byte short name field for an upper-case 8.3 `name`, padded with spaces. */
function field(base: string, ext: string): Uint8Array {
  const b = new Uint8Array(11).fill(0x20);
  for (let i = 0; i < base.length; i++) b[i] = base.charCodeAt(i);
  for (let i = 0; i < ext.length; i++) b[8 + i] = ext.charCodeAt(i);
  return b;
}

/** A directory entry's names: the short name field and whether LFN entries are needed. */
export interface EntryName {
  short: Uint8Array;
  long?: string;
}

/**
 * Names the entries of one directory: `used` holds the short names already taken there (as
 * strings of the 11-byte field) and is updated.
 */
export function entryName(name: string, used: Set<string>): EntryName {
  checkName(name);
  if (SHORT_OK.test(name)) {
    const [base, ext = ""] = name.split(".");
    const short = field(base, ext);
    const key = String.fromCharCode(...short);
    if (!used.has(key)) {
      used.add(key);
      return { short };
    }
  }
  const clean = (s: string) => s.toUpperCase().replace(/[^A-Z0-9!#$%&'()@^_`{}~-]/g, "_");
  const dot = name.lastIndexOf(".");
  const base = clean(dot > 0 ? name.slice(0, dot) : name).replace(/^\.+/, "") || "_";
  const ext = dot > 0 ? clean(name.slice(dot + 1)).slice(0, 3) : "";
  for (let n = 1; n < 1_000_000; n++) {
    const tail = `~${n}`;
    const short = field(base.slice(0, 8 - tail.length) + tail, ext);
    const key = String.fromCharCode(...short);
    if (!used.has(key)) {
      used.add(key);
      return { short, long: name };
    }
  }
  throw new RangeError(`fat32: no free short name for ${name}`);
}

/** The LFN checksum of an 11-byte short name. */
export function lfnChecksum(short: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + short[i]) & 0xff;
  return sum;
}

/** Byte offsets of the 13 UTF-16 units in an LFN entry. */
export const LFN_SLOTS = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/** The LFN entries (32 bytes each) for `long`, in on-disk order (last part first). */
export function lfnEntries(long: string, short: Uint8Array): Uint8Array[] {
  const units = Array.from({ length: long.length }, (_, i) => long.charCodeAt(i));
  // A name of exactly 13·k units has no terminator; otherwise NUL, then 0xFFFF padding.
  if (units.length % 13) units.push(0);
  while (units.length % 13) units.push(0xffff);
  const count = units.length / 13;
  const sum = lfnChecksum(short);
  const out: Uint8Array[] = [];
  for (let k = count; k >= 1; k--) {
    const e = new Uint8Array(32);
    const v = new DataView(e.buffer);
    e[0] = k | (k === count ? 0x40 : 0);
    e[11] = 0x0f;
    e[13] = sum;
    LFN_SLOTS.forEach((off, i) => v.setUint16(off, units[(k - 1) * 13 + i], true));
    out.push(e);
  }
  return out;
}
