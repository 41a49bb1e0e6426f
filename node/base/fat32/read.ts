/**
 * FAT32 reading: one file by path from a filesystem on a partition (a {@link DiskReader} at the
 * partition's offset). The host uses it to look at ESPs that nodes wrote — their kernel's vfat,
 * not our writer: cluster chains may be fragmented, names may be LFN or 8.3 with the NT
 * lower-case flags — without mounting them (the host kernel has no vfat) or running mtools.
 * Names match case-insensitively, as on FAT. The filesystem is untrusted input: geometry,
 * cluster numbers, chain lengths and sizes are checked before use, and a looping chain is refused.
 * @module
 */
import type { DiskReader } from "../blockdev/gpt.ts";
import { LFN_SLOTS, lfnChecksum } from "./names.ts";

/** A filesystem that is not FAT32 or does not add up. */
export class Fat32Error extends Error {
  /** `message` says what is wrong. */
  constructor(message: string) {
    super(`fat32: ${message}`);
    this.name = "Fat32Error";
  }
}

/** One directory entry as read. */
export interface Fat32Entry {
  /** The long name when present, else the 8.3 name (NT lower-case flags applied). */
  name: string;
  directory: boolean;
  firstCluster: number;
  size: number;
}

interface Geometry {
  bytesPerSector: number;
  clusterBytes: number;
  fatOffset: number;
  dataOffset: number;
  rootCluster: number;
  /** Highest valid cluster number (clusters are 2 … maxCluster). */
  maxCluster: number;
}

const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const u32 = (b: Uint8Array, o: number) => (u16(b, o) + u16(b, o + 2) * 0x10000) >>> 0;
const END_OF_CHAIN = 0x0ffffff8;

/** The geometry of a FAT32 boot sector (BPB); throws {@link Fat32Error} on anything else. */
export function fat32BootGeometry(boot: Uint8Array, partitionBytes: number): Geometry {
  if (boot.length < 512 || boot[510] !== 0x55 || boot[511] !== 0xaa) {
    throw new Fat32Error("no boot sector signature");
  }
  const bps = u16(boot, 11);
  const spc = boot[13];
  const reserved = u16(boot, 14);
  const nfats = boot[16];
  const fatSectors = u32(boot, 36);
  const total = u16(boot, 19) || u32(boot, 32);
  if (![512, 1024, 2048, 4096].includes(bps)) throw new Fat32Error(`sector size ${bps}`);
  if (!spc || spc & (spc - 1) || spc > 128) throw new Fat32Error(`${spc} sectors per cluster`);
  if (u16(boot, 22) !== 0 || fatSectors === 0) throw new Fat32Error("not FAT32 (FATSz16 set)");
  if (!reserved || !nfats) throw new Fat32Error("no reserved sectors or no FAT");
  const dataSector = reserved + nfats * fatSectors;
  if (total <= dataSector || total * bps > partitionBytes) {
    throw new Fat32Error(`${total} sectors do not fit the ${partitionBytes}-byte partition`);
  }
  const clusters = Math.floor((total - dataSector) / spc);
  // The FAT must describe every cluster.
  if ((clusters + 2) * 4 > fatSectors * bps) throw new Fat32Error("FAT shorter than the volume");
  const rootCluster = u32(boot, 44);
  const maxCluster = clusters + 1;
  if (rootCluster < 2 || rootCluster > maxCluster) {
    throw new Fat32Error(`root cluster ${rootCluster}`);
  }
  return {
    bytesPerSector: bps,
    clusterBytes: bps * spc,
    fatOffset: reserved * bps,
    dataOffset: dataSector * bps,
    rootCluster,
    maxCluster,
  };
}

/** Decodes the entries of one directory's bytes (pure; `..`, `.`, labels, deleted skipped). */
export function parseDirectory(bytes: Uint8Array): Fat32Entry[] {
  const out: Fat32Entry[] = [];
  let lfn: { sum: number; parts: string[] } | undefined;
  for (let off = 0; off + 32 <= bytes.length; off += 32) {
    const e = bytes.subarray(off, off + 32);
    if (e[0] === 0x00) break;
    if (e[0] === 0xe5) {
      lfn = undefined;
      continue;
    }
    const attr = e[11];
    if ((attr & 0x3f) === 0x0f) {
      const seq = e[0] & 0x1f;
      if (e[0] & 0x40) lfn = { sum: e[13], parts: [] };
      if (!lfn || lfn.sum !== e[13] || seq === 0) {
        lfn = undefined;
        continue;
      }
      const units: number[] = [];
      for (const s of LFN_SLOTS) {
        const u = u16(e, s);
        if (u === 0 || u === 0xffff) break;
        units.push(u);
      }
      lfn.parts[seq - 1] = String.fromCharCode(...units);
      continue;
    }
    const long = lfn;
    lfn = undefined;
    if (attr & 0x08) continue; // volume label
    const short = e.subarray(0, 11);
    const latin = (b: Uint8Array) => String.fromCharCode(...b).replace(/ +$/, "");
    let base = latin(short.subarray(0, 8));
    let ext = latin(short.subarray(8, 11));
    if (short[0] === 0x05) base = "\u00e5" + base.slice(1);
    if (base === "." || base === "..") continue;
    if (e[12] & 0x08) base = base.toLowerCase();
    if (e[12] & 0x10) ext = ext.toLowerCase();
    const name = long && long.sum === lfnChecksum(short) && long.parts.every((p) => p !== undefined)
      ? long.parts.join("")
      : ext
      ? `${base}.${ext}`
      : base;
    out.push({
      name,
      directory: (attr & 0x10) !== 0,
      firstCluster: (u16(e, 20) << 16 | u16(e, 26)) >>> 0,
      size: u32(e, 28),
    });
  }
  return out;
}

/** A FAT32 filesystem opened for reading. */
export class Fat32Reader {
  readonly #fatSectors = new Map<number, Uint8Array>();

  private constructor(readonly disk: DiskReader, readonly geometry: Geometry) {}

  /** Reads and checks the boot sector of the filesystem on `disk`. */
  static async open(disk: DiskReader): Promise<Fat32Reader> {
    if (disk.size < 512) throw new Fat32Error("partition smaller than a sector");
    return new Fat32Reader(disk, fat32BootGeometry(await disk.read(0, 512), disk.size));
  }

  async #next(cluster: number): Promise<number> {
    const g = this.geometry;
    const sector = Math.floor((cluster * 4) / g.bytesPerSector);
    let s = this.#fatSectors.get(sector);
    if (!s) {
      s = await this.disk.read(g.fatOffset + sector * g.bytesPerSector, g.bytesPerSector);
      this.#fatSectors.set(sector, s);
    }
    return u32(s, (cluster * 4) % g.bytesPerSector) & 0x0fffffff;
  }

  /** The bytes of the chain from `first`, cut to `size` when given (files). */
  async #readChain(first: number, size?: number): Promise<Uint8Array> {
    const g = this.geometry;
    if (size === 0) return new Uint8Array();
    const limit = size === undefined ? g.maxCluster - 1 : Math.ceil(size / g.clusterBytes);
    const chunks: Uint8Array[] = [];
    let c = first;
    for (;;) {
      if (c < 2 || c > g.maxCluster) throw new Fat32Error(`cluster ${c} out of range`);
      if (chunks.length >= limit) {
        throw new Fat32Error(
          size === undefined ? "directory chain loops" : `chain longer than the ${size}-byte file`,
        );
      }
      chunks.push(
        await this.disk.read(g.dataOffset + (c - 2) * g.clusterBytes, g.clusterBytes),
      );
      c = await this.#next(c);
      if (c >= END_OF_CHAIN) break;
    }
    const total = size ?? chunks.length * g.clusterBytes;
    if (total > chunks.length * g.clusterBytes) {
      throw new Fat32Error(`chain shorter than the ${size}-byte file`);
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const ch of chunks) {
      out.set(ch.subarray(0, Math.min(ch.length, total - off)), off);
      off += ch.length;
      if (off >= total) break;
    }
    return out;
  }

  /** The entries of the directory starting at `cluster` (default: the root directory). */
  async list(cluster = this.geometry.rootCluster): Promise<Fat32Entry[]> {
    return parseDirectory(await this.#readChain(cluster));
  }

  /**
   * The file `path` (`a/b/c.pb`, matched case-insensitively); undefined when it or a directory
   * on the way does not exist. A directory at `path` is an error.
   */
  async readFile(path: string): Promise<Uint8Array | undefined> {
    const parts = path.split("/").filter(Boolean);
    if (parts.length === 0) throw new Fat32Error("empty path");
    let dir = this.geometry.rootCluster;
    for (const [i, part] of parts.entries()) {
      const want = part.toUpperCase();
      const e = (await this.list(dir)).find((x) => x.name.toUpperCase() === want);
      if (!e) return undefined;
      const last = i === parts.length - 1;
      if (last && e.directory) throw new Fat32Error(`${path} is a directory`);
      if (!last && !e.directory) return undefined;
      if (last) return await this.#readChain(e.firstCluster, e.size);
      dir = e.firstCluster === 0 ? this.geometry.rootCluster : e.firstCluster;
    }
    return undefined;
  }
}
