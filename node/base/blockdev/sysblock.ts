/**
 * What the kernel says about block devices, read from sysfs (`/sys/block`, `/sys/dev/block`):
 * the disks that have partitions, each partition's number and `major:minor`, a disk's logical
 * block size, and the devices below a device-mapper device (`slaves/`). The root of sysfs is a
 * parameter, so tests read a directory tree shaped like sysfs.
 * @module
 */

/** One partition of a disk as the kernel registered it. */
export interface SysPartition {
  /** Kernel name, e.g. `vda4`, `nvme0n1p4` (also the devtmpfs node `/dev/<name>`). */
  name: string;
  /** Partition number (the GPT entry index). */
  number: number;
  /** `major:minor`. */
  dev: string;
  /** Start on the disk and size, in 512-byte sectors (the kernel's units). */
  start: number;
  size: number;
}

/** A disk with at least one partition. */
export interface SysDisk {
  /** Kernel name, e.g. `vda`. */
  name: string;
  /** `major:minor`. */
  dev: string;
  /** Size in 512-byte sectors. */
  size: number;
  /** `queue/logical_block_size` in bytes. */
  logicalBlockSize: number;
  partitions: SysPartition[];
}

function readTrim(path: string): string {
  return Deno.readTextFileSync(path).trim();
}

function readInt(path: string): number {
  const s = readTrim(path);
  if (!/^\d+$/.test(s)) throw new Error(`${path}: ${JSON.stringify(s)} is not a number`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new Error(`${path}: ${s} is out of range`);
  return n;
}

function readDev(path: string): string {
  const s = readTrim(path);
  if (!/^\d+:\d+$/.test(s)) throw new Error(`${path}: ${JSON.stringify(s)} is not major:minor`);
  return s;
}

function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/**
 * The disks below `<sys>/block` that have partitions (a partition is a subdirectory holding a
 * `partition` file), in name order. Whole devices without partitions (dm-*, loop, zram, an
 * empty disk) are left out: they cannot hold a node's ESP.
 */
export function listDisks(sys = "/sys"): SysDisk[] {
  const out: SysDisk[] = [];
  for (const name of entries(`${sys}/block`)) {
    const dir = `${sys}/block/${name}`;
    const partitions: SysPartition[] = [];
    for (const sub of entries(dir)) {
      let number: number;
      try {
        number = readInt(`${dir}/${sub}/partition`);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) continue;
        throw e;
      }
      partitions.push({
        name: sub,
        number,
        dev: readDev(`${dir}/${sub}/dev`),
        start: readInt(`${dir}/${sub}/start`),
        size: readInt(`${dir}/${sub}/size`),
      });
    }
    if (partitions.length === 0) continue;
    out.push({
      name,
      dev: readDev(`${dir}/dev`),
      size: readInt(`${dir}/size`),
      logicalBlockSize: readInt(`${dir}/queue/logical_block_size`),
      partitions: partitions.sort((a, b) => a.number - b.number),
    });
  }
  return out;
}

/** The kernel names of the devices below block device `dev` (`major:minor`), e.g. `["vda2"]`. */
export function slavesOf(dev: string, sys = "/sys"): string[] {
  return entries(`${sys}/dev/block/${dev}/slaves`);
}

/** `major:minor` of a `st_dev`/`st_rdev` number (glibc's `gnu_dev_major`/`gnu_dev_minor`). */
export function devString(dev: number | bigint): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}
