/**
 * Reads and writes of a block device that bypass its page cache (`O_DIRECT`, through libc over
 * FFI). Needed where the kernel itself writes the same device behind the page cache's back — a
 * dm-integrity superblock the kernel formats, a device-mapper device stacked on a partition —
 * and a buffered read could return bytes cached before the kernel wrote. Offsets and lengths are
 * multiples of {@link DIRECT_IO_ALIGN}, which satisfies every logical block size the node sees.
 * @module
 */
import { cstr, lazyLibc } from "../sys/libc.ts";
import { check } from "../sys/errno.ts";

/** Alignment of offsets, lengths and buffers (the largest logical block size we handle). */
export const DIRECT_IO_ALIGN = 4096;

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_DIRECT = 0o40000;
const O_CLOEXEC = 0o2000000;

const libc = lazyLibc({
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  pread: { parameters: ["i32", "pointer", "usize", "i64"], result: "isize" },
  pwrite: { parameters: ["i32", "pointer", "usize", "i64"], result: "isize" },
  fsync: { parameters: ["i32"], result: "i32" },
});

function checkRange(offset: number, length: number): void {
  for (const [what, v] of [["offset", offset], ["length", length]] as const) {
    if (!Number.isSafeInteger(v) || v < 0 || v % DIRECT_IO_ALIGN !== 0) {
      throw new RangeError(`direct I/O ${what} ${v} is not a multiple of ${DIRECT_IO_ALIGN}`);
    }
  }
}

/** A buffer of `length` bytes whose start is aligned, and the pointer to that start. */
function aligned(length: number): { view: Uint8Array; ptr: Deno.PointerObject } {
  const backing = new Uint8Array(length + DIRECT_IO_ALIGN);
  const base = Deno.UnsafePointer.of(backing)!;
  const addr = Deno.UnsafePointer.value(base);
  const skip = Number(
    (BigInt(DIRECT_IO_ALIGN) - BigInt(addr) % BigInt(DIRECT_IO_ALIGN)) %
      BigInt(DIRECT_IO_ALIGN),
  );
  return {
    view: backing.subarray(skip, skip + length),
    ptr: Deno.UnsafePointer.offset(base, skip)!,
  };
}

function withFd<T>(path: string, flags: number, fn: (fd: number) => T): T {
  const s = libc();
  const fd = check(
    s,
    s.open(cstr(path), flags | O_DIRECT | O_CLOEXEC),
    "open",
    JSON.stringify(path),
  );
  try {
    return fn(fd);
  } finally {
    s.close(fd);
  }
}

/**
 * Reads `length` bytes at `offset` of `path` with `O_DIRECT`. A failed read (an I/O error, an
 * authentication failure of dm-crypt) throws the {@link SysError} of `pread`.
 */
export function readDirect(path: string, offset: number, length: number): Uint8Array {
  checkRange(offset, length);
  const s = libc();
  const { view, ptr } = aligned(length);
  withFd(path, O_RDONLY, (fd) => {
    let done = 0;
    while (done < length) {
      const n = check(
        s,
        s.pread(fd, Deno.UnsafePointer.offset(ptr, done), length - done, offset + done),
        "pread",
        `${JSON.stringify(path)} at ${offset + done}`,
      );
      if (n === 0) throw new RangeError(`${path}: end of device at ${offset + done}`);
      done += n;
    }
  });
  return view.slice();
}

/** Writes `data` at `offset` of `path` with `O_DIRECT` and fsyncs it. */
export function writeDirect(path: string, offset: number, data: Uint8Array): void {
  checkRange(offset, data.length);
  const s = libc();
  const { view, ptr } = aligned(data.length);
  view.set(data);
  withFd(path, O_WRONLY, (fd) => {
    let done = 0;
    while (done < data.length) {
      const n = check(
        s,
        s.pwrite(fd, Deno.UnsafePointer.offset(ptr, done), data.length - done, offset + done),
        "pwrite",
        `${JSON.stringify(path)} at ${offset + done}`,
      );
      done += n;
    }
    check(s, s.fsync(fd), "fsync", JSON.stringify(path));
  });
}
