/**
 * Finds a byte string in a (sparse) disk image, reading only the file's data extents
 * (`lseek(SEEK_DATA/SEEK_HOLE)`): a 6 GiB node disk holds a few hundred MiB of data, and reading
 * its holes as zeros would take minutes on a loaded host.
 * @module
 */
import { cstr, lazyLibc } from "../../../node/base/sys/libc.ts";
import { check, lastError } from "../../../node/base/sys/errno.ts";

const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const ENXIO = 6;
const CHUNK = 8 * 1024 * 1024;

const libc = lazyLibc({
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
});

/** The data extents of `path` as `[start, end)` byte ranges. */
export function dataExtents(path: string): [number, number][] {
  const s = libc();
  const fd = check(s, s.open(cstr(path), 0), "open", path);
  try {
    const out: [number, number][] = [];
    let pos = 0;
    for (;;) {
      const start = Number(s.lseek(fd, BigInt(pos), SEEK_DATA));
      if (start === -1) {
        const e = lastError(s, "lseek", path);
        if (e.errno === ENXIO) break; // no data after pos
        throw e;
      }
      const end = check(s, s.lseek(fd, BigInt(start), SEEK_HOLE), "lseek", path);
      out.push([start, end]);
      pos = end;
    }
    return out;
  } finally {
    s.close(fd);
  }
}

/** Byte offsets of every occurrence of `needle` in `path` (holes are skipped). */
export async function findInImage(path: string, needle: Uint8Array): Promise<number[]> {
  if (needle.length === 0 || needle.length > CHUNK) throw new RangeError("bad needle length");
  const hits: number[] = [];
  using f = await Deno.open(path, { read: true });
  for (const [start, end] of dataExtents(path)) {
    // Overlap chunks by needle.length - 1 so a match across a chunk boundary is found once.
    for (let off = start; off < end; off += CHUNK) {
      const len = Math.min(CHUNK + needle.length - 1, end - off);
      const buf = new Uint8Array(len);
      await f.seek(off, Deno.SeekMode.Start);
      let got = 0;
      while (got < len) {
        const n = await f.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      let i = buf.subarray(0, got).indexOf(needle[0]);
      while (i >= 0 && i + needle.length <= got) {
        let j = 1;
        while (j < needle.length && buf[i + j] === needle[j]) j++;
        if (j === needle.length && i < CHUNK) hits.push(off + i);
        i = buf.indexOf(needle[0], i + 1);
      }
    }
  }
  return hits;
}
