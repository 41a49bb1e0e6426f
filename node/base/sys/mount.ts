/** mount(2) and umount2(2) through libc. */
import { cstr, lazyLibc } from "./libc.ts";
import { check } from "./errno.ts";

/** mount(2) flags (`<sys/mount.h>`). */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  DIRSYNC: 128,
  NOSYMFOLLOW: 256,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  MOVE: 8192,
  REC: 16384,
  SILENT: 32768,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
  LAZYTIME: 1 << 25,
} as const;

/** umount2(2) flags. */
export const MNT = { FORCE: 1, DETACH: 2, EXPIRE: 4, NOFOLLOW: 8 } as const;

const libc = lazyLibc({
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
});

/**
 * Mounts `source` of type `fstype` on `target`. `fstype` may be null for bind/move/propagation
 * changes; `data` is the comma-separated option string (e.g. `"mode=0755"`).
 * Throws {@link SysError} (syscall `mount`, argument = target).
 */
export function mount(
  source: string | null,
  target: string,
  fstype: string | null,
  flags = 0,
  data?: string,
): void {
  const s = libc();
  const ret = s.mount(
    source === null ? null : cstr(source),
    cstr(target),
    fstype === null ? null : cstr(fstype),
    BigInt(flags),
    data === undefined ? null : cstr(data),
  );
  check(s, ret, "mount", JSON.stringify(target));
}

/** Unmounts `target` with umount2(2) `flags` (see {@link MNT}). Throws {@link SysError}. */
export function umount(target: string, flags = 0): void {
  const s = libc();
  check(s, s.umount2(cstr(target), flags), "umount2", JSON.stringify(target));
}
