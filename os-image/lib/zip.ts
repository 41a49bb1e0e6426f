/**
 * A deterministic, store-only ZIP writer for `bundle.zip` (image.md §9): entries sorted by
 * name, all timestamps 1980-01-01 00:00, no extra fields, no compression (the payloads are
 * already compressed). Files must be < 4 GiB (no ZIP64).
 * @module
 */

import { crc32 } from "../../node/base/blockdev/crc32.ts";

export { crc32 };

const DOS_DATE = (0 << 9) | (1 << 5) | 1; // 1980-01-01
const DOS_TIME = 0;

/** Writes `out` containing `entries` (zip name → host path), sorted by name. */
export async function writeZip(out: string, entries: Record<string, string>): Promise<void> {
  const names = Object.keys(entries).sort();
  const f = await Deno.open(out, { write: true, create: true, truncate: true });
  try {
    let offset = 0;
    const central: Uint8Array[] = [];
    const write = async (b: Uint8Array) => {
      let o = 0;
      while (o < b.length) o += await f.write(b.subarray(o));
      offset += b.length;
    };
    for (const name of names) {
      const data = await Deno.readFile(entries[name]);
      if (data.length >= 0xffffffff) throw new Error(`zip: ${name} is too large (no ZIP64)`);
      const crc = crc32(data);
      const nameBytes = new TextEncoder().encode(name);
      const local = new DataView(new ArrayBuffer(30));
      local.setUint32(0, 0x04034b50, true);
      local.setUint16(4, 10, true); // version needed
      local.setUint16(6, 0x0800, true); // UTF-8 names
      local.setUint16(8, 0, true); // stored
      local.setUint16(10, DOS_TIME, true);
      local.setUint16(12, DOS_DATE, true);
      local.setUint32(14, crc, true);
      local.setUint32(18, data.length, true);
      local.setUint32(22, data.length, true);
      local.setUint16(26, nameBytes.length, true);
      local.setUint16(28, 0, true);
      const cd = new DataView(new ArrayBuffer(46));
      cd.setUint32(0, 0x02014b50, true);
      cd.setUint16(4, 0x031e, true); // made by: Unix, 3.0
      cd.setUint16(6, 10, true);
      cd.setUint16(8, 0x0800, true);
      cd.setUint16(10, 0, true);
      cd.setUint16(12, DOS_TIME, true);
      cd.setUint16(14, DOS_DATE, true);
      cd.setUint32(16, crc, true);
      cd.setUint32(20, data.length, true);
      cd.setUint32(24, data.length, true);
      cd.setUint16(28, nameBytes.length, true);
      cd.setUint32(38, (0o100644 << 16) >>> 0, true); // external attrs: regular file 0644
      cd.setUint32(42, offset, true);
      central.push(new Uint8Array(cd.buffer), nameBytes);
      await write(new Uint8Array(local.buffer));
      await write(nameBytes);
      await write(data);
    }
    const cdStart = offset;
    for (const c of central) await write(c);
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true);
    end.setUint16(8, names.length, true);
    end.setUint16(10, names.length, true);
    end.setUint32(12, offset - cdStart, true);
    end.setUint32(16, cdStart, true);
    await write(new Uint8Array(end.buffer));
  } finally {
    f.close();
  }
}
