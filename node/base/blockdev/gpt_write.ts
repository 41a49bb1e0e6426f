/**
 * GPT writing (UEFI spec 2.10 §5.2–5.3): a pure plan (partition placement, 1 MiB aligned) and
 * encoders for the protective MBR, the primary header + entry array at LBA 1–33 and the backup
 * array + header at the end of the disk, with both CRC32s. {@link writeGpt} puts the encoded
 * structures onto a file or block device; it writes only the GPT sectors, never partition
 * contents. What {@link parseGpt} (gpt.ts) reads back is exactly what was planned.
 * @module
 */
import { crc32 } from "./crc32.ts";
import { encodeGuid, normalizeGuid } from "./guid.ts";

/** A partition to place. */
export interface GptPartitionRequest {
  /** GPT partition name (at most 36 UTF-16 code units). */
  name: string;
  /** Partition type GUID. */
  type: string;
  /** Unique partition GUID. */
  guid: string;
  /** Size in bytes (a multiple of the sector size); 0 = the rest of the usable space. */
  sizeBytes: number;
  /** Attribute bits (default 0). */
  attributes?: bigint;
}

/** Input of {@link planGpt}. */
export interface GptRequest {
  /** Disk size in bytes. */
  diskSizeBytes: number;
  /** Logical sector size (default 512). */
  sectorSize?: 512 | 4096;
  diskGuid: string;
  /** Partitions in entry order, placed back to back from the first aligned sector. */
  partitions: GptPartitionRequest[];
  /** Start alignment in bytes (default 1 MiB). */
  alignmentBytes?: number;
  /** Start of the first partition in bytes (default: the alignment). */
  firstOffsetBytes?: number;
}

/** A placed partition. */
export interface PlannedPartition extends GptPartitionRequest {
  /** 1-based entry index. */
  index: number;
  firstLba: number;
  /** Inclusive. */
  lastLba: number;
  offsetBytes: number;
}

/** A complete table, ready to encode. */
export interface GptPlan {
  sectorSize: number;
  sectors: number;
  diskGuid: string;
  firstUsableLba: number;
  lastUsableLba: number;
  partitions: PlannedPartition[];
}

/** Entries in the array (the usual 128 × 128 bytes = 16 KiB). */
export const GPT_ENTRIES = 128;
const ENTRY_SIZE = 128;
const ARRAY_BYTES = GPT_ENTRIES * ENTRY_SIZE;

/**
 * Places the partitions: each starts at the next aligned offset after the previous one; a size
 * of 0 takes the rest of the usable space (only for the last partition). Throws when the
 * partitions do not fit.
 */
export function planGpt(r: GptRequest): GptPlan {
  const ss = r.sectorSize ?? 512;
  const align = r.alignmentBytes ?? 1024 * 1024;
  if (align % ss) throw new RangeError(`alignment ${align} is not a multiple of ${ss}`);
  const sectors = Math.floor(r.diskSizeBytes / ss);
  const arraySectors = ARRAY_BYTES / ss;
  const firstUsableLba = 2 + arraySectors;
  const lastUsableLba = sectors - 2 - arraySectors;
  if (lastUsableLba <= firstUsableLba) {
    throw new RangeError(`disk of ${r.diskSizeBytes} bytes is too small for a GPT`);
  }
  const alignLba = align / ss;
  let next = Math.ceil((r.firstOffsetBytes ?? align) / ss);
  next = Math.max(Math.ceil(next / alignLba) * alignLba, firstUsableLba);
  const partitions: PlannedPartition[] = r.partitions.map((p, i) => {
    if (p.sizeBytes % ss) throw new RangeError(`${p.name}: size ${p.sizeBytes} is not in sectors`);
    if (p.sizeBytes === 0 && i !== r.partitions.length - 1) {
      throw new RangeError(`${p.name}: only the last partition may take the rest of the disk`);
    }
    const units = [...p.name].reduce((n, c) => n + (c.codePointAt(0)! > 0xffff ? 2 : 1), 0);
    if (units > 36) throw new RangeError(`${p.name}: name longer than 36 UTF-16 code units`);
    const firstLba = next;
    const lastLba = p.sizeBytes ? firstLba + p.sizeBytes / ss - 1 : lastUsableLba;
    if (lastLba > lastUsableLba || lastLba < firstLba) {
      throw new RangeError(
        `partition ${p.name} (${p.sizeBytes} bytes at LBA ${firstLba}) does not fit a disk of ` +
          `${r.diskSizeBytes} bytes`,
      );
    }
    next = Math.ceil((lastLba + 1) / alignLba) * alignLba;
    return {
      ...p,
      type: normalizeGuid(p.type),
      guid: normalizeGuid(p.guid),
      index: i + 1,
      firstLba,
      lastLba,
      offsetBytes: firstLba * ss,
    };
  });
  return {
    sectorSize: ss,
    sectors,
    diskGuid: normalizeGuid(r.diskGuid),
    firstUsableLba,
    lastUsableLba,
    partitions,
  };
}

/** LBA 0: an MBR whose single record (type 0xEE) covers the disk. */
export function encodeProtectiveMbr(plan: GptPlan): Uint8Array {
  const b = new Uint8Array(plan.sectorSize);
  const v = new DataView(b.buffer);
  const rec = 446;
  b.set([0x00, 0x00, 0x02, 0x00, 0xee, 0xff, 0xff, 0xff], rec);
  v.setUint32(rec + 8, 1, true);
  v.setUint32(rec + 12, Math.min(plan.sectors - 1, 0xffffffff), true);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/** The entry array (16 KiB). */
export function encodeEntries(plan: GptPlan): Uint8Array {
  const arr = new Uint8Array(ARRAY_BYTES);
  const v = new DataView(arr.buffer);
  for (const p of plan.partitions) {
    const off = (p.index - 1) * ENTRY_SIZE;
    arr.set(encodeGuid(p.type), off);
    arr.set(encodeGuid(p.guid), off + 16);
    v.setBigUint64(off + 32, BigInt(p.firstLba), true);
    v.setBigUint64(off + 40, BigInt(p.lastLba), true);
    v.setBigUint64(off + 48, p.attributes ?? 0n, true);
    for (let i = 0; i < p.name.length; i++) {
      v.setUint16(off + 56 + 2 * i, p.name.charCodeAt(i), true);
    }
  }
  return arr;
}

/** One header sector (`backup` selects the copy at the end of the disk). */
export function encodeHeader(plan: GptPlan, entries: Uint8Array, backup: boolean): Uint8Array {
  const b = new Uint8Array(plan.sectorSize);
  const v = new DataView(b.buffer);
  const last = plan.sectors - 1;
  const arraySectors = ARRAY_BYTES / plan.sectorSize;
  b.set(new TextEncoder().encode("EFI PART"), 0);
  v.setUint32(8, 0x00010000, true);
  v.setUint32(12, 92, true);
  v.setBigUint64(24, BigInt(backup ? last : 1), true);
  v.setBigUint64(32, BigInt(backup ? 1 : last), true);
  v.setBigUint64(40, BigInt(plan.firstUsableLba), true);
  v.setBigUint64(48, BigInt(plan.lastUsableLba), true);
  b.set(encodeGuid(plan.diskGuid), 56);
  v.setBigUint64(72, BigInt(backup ? last - arraySectors : 2), true);
  v.setUint32(80, GPT_ENTRIES, true);
  v.setUint32(84, ENTRY_SIZE, true);
  v.setUint32(88, crc32(entries), true);
  v.setUint32(16, crc32(b.subarray(0, 92)), true);
  return b;
}

/** Byte regions of a disk that make up the GPT: `[offset, bytes]`. */
export function encodeGpt(plan: GptPlan): Array<[number, Uint8Array]> {
  const ss = plan.sectorSize;
  const entries = encodeEntries(plan);
  const primary = new Uint8Array(2 * ss + ARRAY_BYTES);
  primary.set(encodeProtectiveMbr(plan), 0);
  primary.set(encodeHeader(plan, entries, false), ss);
  primary.set(entries, 2 * ss);
  const backup = new Uint8Array(ARRAY_BYTES + ss);
  backup.set(entries, 0);
  backup.set(encodeHeader(plan, entries, true), ARRAY_BYTES);
  return [[0, primary], [(plan.sectors - 1) * ss - ARRAY_BYTES, backup]];
}

/** Random-access writes of a disk or partition. */
export interface DiskWriter {
  /** Writes all of `bytes` at byte `offset`. */
  write(offset: number, bytes: Uint8Array): Promise<void>;
}

/** A {@link DiskWriter} over an open file or block device, at `base` bytes into it. */
export function fileWriter(f: Deno.FsFile, base = 0): DiskWriter {
  return {
    async write(offset, bytes) {
      await f.seek(base + offset, Deno.SeekMode.Start);
      let done = 0;
      while (done < bytes.length) done += await f.write(bytes.subarray(done));
    },
  };
}

/** Writes the GPT of `plan` (MBR, primary and backup) through `w`. */
export async function writeGpt(w: DiskWriter, plan: GptPlan): Promise<void> {
  for (const [off, bytes] of encodeGpt(plan)) await w.write(off, bytes);
}
