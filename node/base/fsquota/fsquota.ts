/**
 * Directory quotas on XFS (or any filesystem with project quotas) through the kernel's own
 * interfaces, via FFI — no `xfs_quota` process:
 *
 * - `FS_IOC_FSGETXATTR` / `FS_IOC_FSSETXATTR` read and set a directory's project ID and its
 *   `PROJINHERIT` flag (everything created below it inherits the project);
 * - `quotactl_fd(2)` (`Q_GETQUOTA`, `Q_SETQUOTA`, `Q_GETNEXTQUOTA` on `PRJQUOTA`) reads and sets
 *   the project's limits and usage, addressed by any open file of the filesystem, so the block
 *   device need not be known.
 *
 * The filesystem must be mounted with project quotas enforced (XFS: `prjquota`). `statfs` of a
 * directory carrying an enforced project then reports the project's limit as the filesystem size
 * (XFS), so `df` inside a container that binds the directory shows the quota.
 *
 * Not safe against concurrent callers choosing a project ID for two directories at once (the
 * kernel has no atomic "allocate a project"): callers serialize {@link setQuota}.
 */
import { cstr, lazyLibc } from "../sys/libc.ts";
import { check, lastError, SysError } from "../sys/errno.ts";

/**
 * Present exactly when the kernel has XFS quota support (`CONFIG_XFS_QUOTA` creates it). Without
 * it XFS refuses the `prjquota` mount option.
 */
export const XFS_QUOTA_PROC = "/proc/fs/xfs/xqmstat";

/** Whether this kernel's XFS supports quotas ({@link XFS_QUOTA_PROC}). */
export function kernelHasXfsQuota(): boolean {
  try {
    Deno.statSync(XFS_QUOTA_PROC);
    return true;
  } catch {
    return false;
  }
}

/** `struct fsxattr` (`<linux/fs.h>`), 28 bytes; the fields we use. */
export interface FsXattr {
  xflags: number;
  extsize: number;
  nextents: number;
  projid: number;
  cowextsize: number;
}

/** `sizeof(struct fsxattr)`. */
export const FSXATTR_SIZE = 28;
/** `FS_XFLAG_PROJINHERIT`: new entries of the directory inherit its project ID. */
export const FS_XFLAG_PROJINHERIT = 0x200;

/** `_IOC(dir, type, nr, size)` of `<asm-generic/ioctl.h>` (x86_64 and arm64 layout). */
export function ioc(dir: "r" | "w", type: string, nr: number, size: number): number {
  const d = dir === "w" ? 1 : 2; // _IOC_WRITE = 1, _IOC_READ = 2
  return ((d << 30) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0;
}

/** `FS_IOC_FSGETXATTR` = `_IOR('X', 31, struct fsxattr)`. */
export const FS_IOC_FSGETXATTR = ioc("r", "X", 31, FSXATTR_SIZE);
/** `FS_IOC_FSSETXATTR` = `_IOW('X', 32, struct fsxattr)`. */
export const FS_IOC_FSSETXATTR = ioc("w", "X", 32, FSXATTR_SIZE);

/** Decodes a `struct fsxattr`. */
export function decodeFsXattr(b: Uint8Array): FsXattr {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    xflags: v.getUint32(0, true),
    extsize: v.getUint32(4, true),
    nextents: v.getUint32(8, true),
    projid: v.getUint32(12, true),
    cowextsize: v.getUint32(16, true),
  };
}

/** Encodes a `struct fsxattr` (padding zero). */
export function encodeFsXattr(x: FsXattr): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(FSXATTR_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, x.xflags, true);
  v.setUint32(4, x.extsize, true);
  v.setUint32(8, x.nextents, true);
  v.setUint32(12, x.projid, true);
  v.setUint32(16, x.cowextsize, true);
  return b;
}

/** quotactl commands (`<linux/quota.h>`) and the project quota type. */
export const Q = {
  GETQUOTA: 0x800007,
  SETQUOTA: 0x800008,
  GETNEXTQUOTA: 0x800009,
  PRJQUOTA: 2,
} as const;

/** `QCMD(cmd, type)`. */
export function qcmd(cmd: number, type: number): number {
  return ((cmd << 8) | (type & 0xff)) >>> 0;
}

/** `dqb_valid` bits. */
export const QIF = { BLIMITS: 1, SPACE: 2, ILIMITS: 4, INODES: 8 } as const;

/** Bytes per quota block (`QIF_DQBLKSIZE`): limits are counted in these. */
export const QUOTA_BLOCK = 1024;

/**
 * `struct if_nextdqblk`: `struct if_dqblk` (8 × u64 + u32 valid, padded to 72 bytes) whose
 * padding holds `dqb_id`. Used for both Q_GETQUOTA/Q_SETQUOTA (id ignored) and Q_GETNEXTQUOTA.
 */
export interface DqBlk {
  /** Limits in {@link QUOTA_BLOCK} units. */
  bhardlimit: bigint;
  bsoftlimit: bigint;
  /** Space in use, bytes. */
  curspace: bigint;
  ihardlimit: bigint;
  isoftlimit: bigint;
  curinodes: bigint;
  btime: bigint;
  itime: bigint;
  valid: number;
  id: number;
}

/** `sizeof(struct if_nextdqblk)` (≥ `sizeof(struct if_dqblk)` = 72 as well). */
export const DQBLK_SIZE = 72;

const DQ_FIELDS = [
  "bhardlimit",
  "bsoftlimit",
  "curspace",
  "ihardlimit",
  "isoftlimit",
  "curinodes",
  "btime",
  "itime",
] as const;

/** Decodes a `struct if_nextdqblk`. */
export function decodeDqBlk(b: Uint8Array): DqBlk {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const q = {} as DqBlk;
  DQ_FIELDS.forEach((f, i) => q[f] = v.getBigUint64(i * 8, true));
  q.valid = v.getUint32(64, true);
  q.id = v.getUint32(68, true);
  return q;
}

/** Encodes a `struct if_nextdqblk`. */
export function encodeDqBlk(q: DqBlk): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(DQBLK_SIZE);
  const v = new DataView(b.buffer);
  DQ_FIELDS.forEach((f, i) => v.setBigUint64(i * 8, q[f], true));
  v.setUint32(64, q.valid, true);
  v.setUint32(68, q.id, true);
  return b;
}

/** Limit in quota blocks for `bytes`, rounded up. */
export function bytesToBlocks(bytes: bigint): bigint {
  const B = BigInt(QUOTA_BLOCK);
  return (bytes + B - 1n) / B;
}

/**
 * The smallest project ID ≥ 1 not in use, given `next(id)` = the first project with a quota
 * record at or above `id` (undefined: none). Project 0 is the default project of every file.
 */
export function freeProjectId(next: (id: number) => number | undefined): number {
  let id = 1;
  for (;;) {
    const used = next(id);
    if (used === undefined || used > id) return id;
    id = used + 1;
  }
}

/** `quotactl_fd(2)`: the same number on x86_64 and arm64 (new syscalls share one table). */
const SYS_QUOTACTL_FD = 443n;
const O_RDONLY = 0;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;

const libc = lazyLibc({
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  syscall: { parameters: ["i64", "i64", "i64", "i64", "buffer"], result: "i64" },
});

function withDir<T>(path: string, f: (fd: number) => T): T {
  const s = libc();
  const fd = check(s, s.open(cstr(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open", path);
  try {
    return f(fd);
  } finally {
    s.close(fd);
  }
}

function getXattr(fd: number, path: string): FsXattr {
  const s = libc();
  const b = new Uint8Array(FSXATTR_SIZE);
  check(s, s.ioctl(fd, BigInt(FS_IOC_FSGETXATTR), b), "ioctl", `FS_IOC_FSGETXATTR ${path}`);
  return decodeFsXattr(b);
}

function setXattr(fd: number, path: string, x: FsXattr): void {
  const s = libc();
  check(
    s,
    s.ioctl(fd, BigInt(FS_IOC_FSSETXATTR), encodeFsXattr(x)),
    "ioctl",
    `FS_IOC_FSSETXATTR ${path}`,
  );
}

/** quotactl_fd on project `id`; returns the (possibly filled) record, or throws SysError. */
function quotactl(fd: number, cmd: number, id: number, q: DqBlk | undefined, what: string): DqBlk {
  const s = libc();
  const b = q ? encodeDqBlk(q) : new Uint8Array(DQBLK_SIZE);
  const ret = s.syscall(SYS_QUOTACTL_FD, BigInt(fd), BigInt(qcmd(cmd, Q.PRJQUOTA)), BigInt(id), b);
  if (Number(ret) === -1) throw lastError(s, "quotactl_fd", what);
  return decodeDqBlk(b);
}

function nextProject(fd: number, id: number, path: string): number | undefined {
  try {
    return quotactl(fd, Q.GETNEXTQUOTA, id, undefined, `Q_GETNEXTQUOTA ${id} ${path}`).id;
  } catch (e) {
    if (e instanceof SysError && (e.code === "ENOENT" || e.code === "ESRCH")) return undefined;
    throw e;
  }
}

function limits(bytes: bigint, inodes: bigint, id: number): DqBlk {
  const blocks = bytesToBlocks(bytes);
  return {
    bhardlimit: blocks,
    bsoftlimit: blocks,
    curspace: 0n,
    ihardlimit: inodes,
    isoftlimit: inodes,
    curinodes: 0n,
    btime: 0n,
    itime: 0n,
    valid: QIF.BLIMITS | QIF.ILIMITS,
    id,
  };
}

/** A directory's quota: limits (0 = none) and usage. */
export interface Quota {
  projectId: number;
  bytes: bigint;
  bytesUsed: bigint;
  inodes: bigint;
  inodesUsed: bigint;
}

/**
 * Gives directory `path` a project of its own (a free ID, unless it already has one) with
 * `PROJINHERIT`, and sets that project's hard and soft limits to `bytes` (rounded up to
 * {@link QUOTA_BLOCK}) and `inodes` (0: no inode limit). Calling it again on the same directory
 * changes the limits (resize). The directory should be empty when it first gets its project:
 * entries already present keep their old project. Returns the project ID.
 */
export function setQuota(path: string, bytes: bigint, inodes = 0n): number {
  if (bytes <= 0n) throw new RangeError(`setQuota ${path}: bytes must be positive`);
  return withDir(path, (fd) => {
    const x = getXattr(fd, path);
    let id = x.projid;
    if (id === 0) {
      id = freeProjectId((from) => nextProject(fd, from, path));
      setXattr(fd, path, { ...x, projid: id, xflags: x.xflags | FS_XFLAG_PROJINHERIT });
    } else if (!(x.xflags & FS_XFLAG_PROJINHERIT)) {
      setXattr(fd, path, { ...x, xflags: x.xflags | FS_XFLAG_PROJINHERIT });
    }
    quotactl(fd, Q.SETQUOTA, id, limits(bytes, inodes, id), `Q_SETQUOTA ${id} ${path}`);
    return id;
  });
}

/** The quota of `path`'s project; undefined when the directory has no project (ID 0). */
export function getQuota(path: string): Quota | undefined {
  return withDir(path, (fd) => {
    const id = getXattr(fd, path).projid;
    if (id === 0) return undefined;
    const q = quotactl(fd, Q.GETQUOTA, id, undefined, `Q_GETQUOTA ${id} ${path}`);
    return {
      projectId: id,
      bytes: q.bhardlimit * BigInt(QUOTA_BLOCK),
      bytesUsed: q.curspace,
      inodes: q.ihardlimit,
      inodesUsed: q.curinodes,
    };
  });
}

/**
 * Removes `path`'s quota: the project's limits are cleared and the directory returns to project
 * 0 without `PROJINHERIT`. Entries below it keep the old project until they are deleted (the
 * caller deletes the directory next). Does nothing for a directory without a project.
 */
export function removeQuota(path: string): void {
  withDir(path, (fd) => {
    const x = getXattr(fd, path);
    if (x.projid === 0) return;
    setXattr(fd, path, { ...x, projid: 0, xflags: x.xflags & ~FS_XFLAG_PROJINHERIT });
    quotactl(fd, Q.SETQUOTA, x.projid, limits(0n, 0n, x.projid), `Q_SETQUOTA ${x.projid}`);
  });
}

/** Whether `path`'s filesystem accounts and enforces project quotas (throws for other errors). */
export function projectQuotasEnforced(path: string): boolean {
  return withDir(path, (fd) => {
    try {
      quotactl(fd, Q.GETQUOTA, 0, undefined, `Q_GETQUOTA 0 ${path}`);
      return true;
    } catch (e) {
      // ESRCH: quotas not enabled on this mount; ENOSYS/EOPNOTSUPP: not supported at all.
      if (e instanceof SysError && ["ESRCH", "ENOSYS", "EOPNOTSUPP"].includes(e.code)) {
        return false;
      }
      throw e;
    }
  });
}
