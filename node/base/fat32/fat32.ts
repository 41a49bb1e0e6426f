/**
 * A FAT32 writer: builds a filesystem from a tree of files in one pass onto a partition
 * (a {@link DiskWriter} at the partition's offset), replacing mkfs.vfat + mtools. Deterministic:
 * fixed timestamps (1980-01-01), entries sorted by name, files contiguous in tree order, so the
 * same tree, size, label and volume ID give the same bytes. Layout: 512-byte sectors, 32
 * reserved sectors (boot sector, FSInfo, backups at 6/7), two FATs, root directory at cluster 2,
 * and the largest cluster size (≤ 4 KiB) that still gives the ≥ 65525 clusters FAT32 needs.
 * Only the reserved sectors, both FATs, the directories and the file data are written: on a
 * fresh sparse file the rest stays a hole; stale data in free clusters is never referenced.
 * @module
 */
import type { DiskWriter } from "../blockdev/gpt_write.ts";
import { closeFile } from "../sys/close.ts";
import { checkName, entryName, lfnEntries } from "./names.ts";

/** A file's content: bytes, or a host file copied when the filesystem is written. */
export type FatSource = Uint8Array | { path: string };

/** A directory of the tree to write. */
export class FatDir {
  readonly children = new Map<string, FatDir | FatSource>();

  /** The subdirectory `path` (`a/b`), created as needed. */
  dir(path: string): FatDir {
    return FatDir.#walk(this, path);
  }

  static #walk(start: FatDir, path: string): FatDir {
    let d = start;
    for (const part of path.split("/").filter(Boolean)) {
      checkName(part);
      const c = d.children.get(part);
      if (c === undefined) {
        const n = new FatDir();
        d.children.set(part, n);
        d = n;
      } else if (c instanceof FatDir) d = c;
      else throw new RangeError(`fat32: ${part} is a file, not a directory`);
    }
    return d;
  }

  /** Adds the file `path` (`a/b/c.efi`), creating its directories. */
  file(path: string, src: FatSource): this {
    const parts = path.split("/").filter(Boolean);
    const name = parts.pop();
    if (!name) throw new RangeError(`fat32: empty file path`);
    checkName(name);
    const d = this.dir(parts.join("/"));
    if (d.children.get(name) instanceof FatDir) {
      throw new RangeError(`fat32: ${path} is a directory`);
    }
    d.children.set(name, src);
    return this;
  }
}

/** Adds the host directory `hostDir` recursively as `path` of `root` (like `mcopy -s`). */
export async function addHostTree(root: FatDir, path: string, hostDir: string): Promise<void> {
  const d = root.dir(path);
  for await (const e of Deno.readDir(hostDir)) {
    const p = `${hostDir}/${e.name}`;
    if (e.isDirectory) await addHostTree(d, e.name, p);
    else if (e.isFile) d.file(e.name, { path: p });
    else throw new Error(`fat32: ${p} is neither a file nor a directory`);
  }
}

/** Filesystem parameters. */
export interface Fat32Options {
  /** Size of the filesystem (the partition) in bytes. */
  sizeBytes: number;
  /** Volume label (up to 11 characters of the 8.3 set, upper case). */
  label: string;
  /** Volume serial number. */
  volumeId: number;
  /** Sectors before the partition (the BPB's HiddSec; its start LBA). */
  hiddenSectors?: number;
  /** Called with the bytes written so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

const BPS = 512;
const RESERVED = 32;
const NFATS = 2;
const MIN_CLUSTERS = 65525;
const EOC = 0x0fffffff;
const DOS_DATE_1980 = (0 << 9) | (1 << 5) | 1;

/** The geometry chosen for a size. */
export interface Fat32Geometry {
  totalSectors: number;
  sectorsPerCluster: number;
  fatSectors: number;
  clusters: number;
  dataStartSector: number;
}

/** Chooses the geometry for a filesystem of `sizeBytes`; throws when FAT32 cannot fit. */
export function fat32Geometry(sizeBytes: number): Fat32Geometry {
  const totalSectors = Math.floor(sizeBytes / BPS);
  for (const spc of [8, 4, 2, 1]) {
    const fatSectors = Math.ceil(((totalSectors - RESERVED) / spc + 2) * 4 / BPS);
    const clusters = Math.floor((totalSectors - RESERVED - NFATS * fatSectors) / spc);
    if (clusters >= MIN_CLUSTERS + 16 && clusters <= 0x0ffffff5) {
      return {
        totalSectors,
        sectorsPerCluster: spc,
        fatSectors,
        clusters,
        dataStartSector: RESERVED + NFATS * fatSectors,
      };
    }
  }
  throw new RangeError(`fat32: ${sizeBytes} bytes is too small for FAT32 (≥ 33 MiB)`);
}

interface Placed {
  name: string;
  short: Uint8Array;
  long?: string;
  firstCluster: number;
  size: number;
  dir?: PlacedDir;
  src?: FatSource;
}

interface PlacedDir {
  firstCluster: number;
  clusters: number;
  entries: Placed[];
}

async function sizeOf(src: FatSource): Promise<number> {
  return src instanceof Uint8Array ? src.length : (await Deno.stat(src.path)).size;
}

function u16(b: Uint8Array, off: number, v: number) {
  b[off] = v & 0xff;
  b[off + 1] = (v >> 8) & 0xff;
}

function u32(b: Uint8Array, off: number, v: number) {
  new DataView(b.buffer, b.byteOffset).setUint32(off, v >>> 0, true);
}

function dirEntry(short: Uint8Array, attr: number, cluster: number, size: number): Uint8Array {
  const e = new Uint8Array(32);
  e.set(short, 0);
  e[11] = attr;
  u16(e, 16, DOS_DATE_1980);
  u16(e, 18, DOS_DATE_1980);
  u16(e, 20, cluster >>> 16);
  u16(e, 24, DOS_DATE_1980);
  u16(e, 26, cluster & 0xffff);
  u32(e, 28, size);
  return e;
}

function labelField(label: string): Uint8Array {
  if (!/^[A-Z0-9_ -]{1,11}$/.test(label)) {
    throw new RangeError(`fat32: invalid volume label ${JSON.stringify(label)}`);
  }
  return new TextEncoder().encode(label.padEnd(11, " "));
}

/**
 * Writes the filesystem holding `root` through `w` (offsets relative to the partition start).
 * Throws before writing anything when the files do not fit.
 */
export async function writeFat32(w: DiskWriter, root: FatDir, o: Fat32Options): Promise<void> {
  const geo = fat32Geometry(o.sizeBytes);
  const label = labelField(o.label);
  const cb = geo.sectorsPerCluster * BPS;
  let next = 2;
  const fat = new Uint32Array((geo.fatSectors * BPS) / 4);
  fat[0] = 0x0ffffff8;
  fat[1] = EOC;
  const alloc = (count: number): number => {
    if (count === 0) return 0;
    const first = next;
    if (first + count - 1 > geo.clusters + 1) {
      throw new RangeError(`fat32: the files do not fit ${o.sizeBytes} bytes`);
    }
    for (let c = first; c < first + count; c++) fat[c] = c === first + count - 1 ? EOC : c + 1;
    next += count;
    return first;
  };

  // Plan: names, directory sizes and contiguous cluster runs, depth first in name order.
  const files: Placed[] = [];
  let dataBytes = 0;
  const place = async (dir: FatDir, isRoot: boolean): Promise<PlacedDir> => {
    const used = new Set<string>([".          ", "..         "]);
    const names = [...dir.children.keys()].sort();
    const entries: Placed[] = names.map((name) => ({
      name,
      ...entryName(name, used),
      firstCluster: 0,
      size: 0,
    }));
    let slots = isRoot ? 1 : 2;
    for (const e of entries) slots += 1 + (e.long ? Math.ceil(e.long.length / 13) : 0);
    const pd: PlacedDir = {
      firstCluster: 0,
      clusters: Math.max(1, Math.ceil((slots * 32) / cb)),
      entries,
    };
    pd.firstCluster = alloc(pd.clusters);
    for (const e of entries) {
      const c = dir.children.get(e.name)!;
      if (c instanceof FatDir) {
        e.dir = await place(c, false);
        e.firstCluster = e.dir.firstCluster;
      } else {
        e.src = c;
        e.size = await sizeOf(c);
        if (e.size > 0xffffffff) throw new RangeError(`fat32: ${e.name} is larger than 4 GiB`);
        e.firstCluster = alloc(Math.ceil(e.size / cb));
        dataBytes += e.size;
        files.push(e);
      }
    }
    return pd;
  };
  const rootDir = await place(root, true);
  const used = next - 2;
  const total = RESERVED * BPS + NFATS * fat.byteLength + dataBytes;
  let done = 0;
  const put = async (off: number, b: Uint8Array) => {
    await w.write(off, b);
    done += b.length;
    o.onProgress?.(Math.min(done, total), total);
  };
  const clusterOffset = (c: number) =>
    (geo.dataStartSector + (c - 2) * geo.sectorsPerCluster) * BPS;

  // Reserved region: boot sector + FSInfo, and their backups at sectors 6 and 7.
  const boot = new Uint8Array(BPS);
  boot.set([0xeb, 0x58, 0x90], 0);
  boot.set(new TextEncoder().encode("MTRPOLIS"), 3);
  u16(boot, 11, BPS);
  boot[13] = geo.sectorsPerCluster;
  u16(boot, 14, RESERVED);
  boot[16] = NFATS;
  boot[21] = 0xf8;
  u16(boot, 24, 32);
  u16(boot, 26, 64);
  u32(boot, 28, o.hiddenSectors ?? 0);
  u32(boot, 32, geo.totalSectors);
  u32(boot, 36, geo.fatSectors);
  u32(boot, 44, 2);
  u16(boot, 48, 1);
  u16(boot, 50, 6);
  boot[64] = 0x80;
  boot[66] = 0x29;
  u32(boot, 67, o.volumeId);
  boot.set(label, 71);
  boot.set(new TextEncoder().encode("FAT32   "), 82);
  boot.set([0xeb, 0xfe], 90); // no boot code: loop
  boot[510] = 0x55;
  boot[511] = 0xaa;
  const info = new Uint8Array(BPS);
  u32(info, 0, 0x41615252);
  u32(info, 484, 0x61417272);
  u32(info, 488, geo.clusters - used);
  u32(info, 492, next);
  u32(info, 508, 0xaa550000);
  const reserved = new Uint8Array(RESERVED * BPS);
  reserved.set(boot, 0);
  reserved.set(info, BPS);
  reserved.set(boot, 6 * BPS);
  reserved.set(info, 7 * BPS);
  await put(0, reserved);

  // Directories (whole clusters: the zero tail ends the listing).
  const writeDir = async (pd: PlacedDir, self: number, parent: number | undefined) => {
    const b = new Uint8Array(pd.clusters * cb);
    let off = 0;
    const add = (e: Uint8Array) => {
      b.set(e, off);
      off += 32;
    };
    if (parent === undefined) add(dirEntry(label, 0x08, 0, 0));
    else {
      add(dirEntry(new TextEncoder().encode(".          "), 0x10, self, 0));
      add(dirEntry(new TextEncoder().encode("..         "), 0x10, parent, 0));
    }
    for (const e of pd.entries) {
      if (e.long) { for (const l of lfnEntries(e.long, e.short)) add(l); }
      add(dirEntry(e.short, e.dir ? 0x10 : 0x20, e.firstCluster, e.dir ? 0 : e.size));
    }
    await w.write(clusterOffset(pd.firstCluster), b);
    for (const e of pd.entries) {
      // ".." of a directory in the root names cluster 0.
      if (e.dir) await writeDir(e.dir, e.dir.firstCluster, parent === undefined ? 0 : self);
    }
  };
  await writeDir(rootDir, rootDir.firstCluster, undefined);

  // File data, contiguous per file.
  for (const f of files) {
    if (f.size === 0) continue;
    const base = clusterOffset(f.firstCluster);
    if (f.src instanceof Uint8Array) {
      await put(base, f.src);
      continue;
    }
    const h = await Deno.open(f.src!.path);
    let off = 0;
    try {
      for await (const chunk of h.readable) {
        if (off + chunk.length > f.size) {
          throw new Error(`fat32: ${f.src!.path} grew while copying`);
        }
        await put(base + off, chunk);
        off += chunk.length;
      }
    } finally {
      closeFile(h);
    }
    if (off !== f.size) throw new Error(`fat32: ${f.src!.path} shrank while copying`);
  }

  // Both FATs last: a filesystem interrupted before this point has no valid allocation.
  const fatBytes = new Uint8Array(fat.buffer);
  for (let i = 0; i < NFATS; i++) await put((RESERVED + i * geo.fatSectors) * BPS, fatBytes);
}

/**
 * The volume label of a FAT32 boot sector (BPB offset 71, 11 bytes, trailing spaces trimmed);
 * undefined when `sector` is not a FAT32 boot sector (signature, `FAT32   ` type string).
 */
export function fat32Label(sector: Uint8Array): string | undefined {
  if (sector.length < 512 || sector[510] !== 0x55 || sector[511] !== 0xaa) return undefined;
  const td = new TextDecoder("latin1");
  if (td.decode(sector.subarray(82, 90)) !== "FAT32   " || sector[66] !== 0x29) return undefined;
  return td.decode(sector.subarray(71, 82)).replace(/ +$/, "");
}
