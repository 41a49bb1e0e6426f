/**
 * The inode immutable flag through FS_IOC_GETFLAGS / FS_IOC_SETFLAGS (ioctl(2) via libc FFI).
 * efivarfs marks the files of variables the kernel knows (Boot####, BootOrder, BootNext, …)
 * immutable so a stray `rm -rf` cannot brick the firmware; writing or deleting one means
 * clearing the flag first, as `efibootmgr` does. ext4 (the tests' temp dirs) has the same flag.
 * @module
 */
import { check } from "../sys/errno.ts";
import { cstr, lazyLibc } from "../sys/libc.ts";

/** `_IOR('f', 1, long)` and `_IOW('f', 2, long)` on x86_64. */
export const FS_IOC_GETFLAGS = 0x80086601n;
export const FS_IOC_SETFLAGS = 0x40086602n;
/** FS_IMMUTABLE_FL. */
export const FS_IMMUTABLE_FL = 0x10;

const O_RDONLY = 0;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

const libc = lazyLibc({
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
});

function withFd<T>(path: string, f: (fd: number) => T): T {
  const sym = libc();
  const fd = check(sym, sym.open(cstr(path), O_RDONLY | O_NONBLOCK | O_CLOEXEC), "open", path);
  try {
    return f(fd);
  } finally {
    sym.close(fd);
  }
}

/** The inode flags of `path`. */
export function getInodeFlags(path: string): number {
  return withFd(path, (fd) => {
    const sym = libc();
    const buf = new Uint8Array(8);
    check(sym, sym.ioctl(fd, FS_IOC_GETFLAGS, buf), "ioctl(FS_IOC_GETFLAGS)", path);
    return new DataView(buf.buffer).getInt32(0, true);
  });
}

/** Sets or clears FS_IMMUTABLE_FL on `path`; returns whether it was set before. */
export function setImmutable(path: string, on: boolean): boolean {
  return withFd(path, (fd) => {
    const sym = libc();
    const buf = new Uint8Array(8);
    const v = new DataView(buf.buffer);
    check(sym, sym.ioctl(fd, FS_IOC_GETFLAGS, buf), "ioctl(FS_IOC_GETFLAGS)", path);
    const flags = v.getInt32(0, true);
    const was = (flags & FS_IMMUTABLE_FL) !== 0;
    if (was === on) return was;
    v.setInt32(0, on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL, true);
    check(sym, sym.ioctl(fd, FS_IOC_SETFLAGS, buf), "ioctl(FS_IOC_SETFLAGS)", path);
    return was;
  });
}
