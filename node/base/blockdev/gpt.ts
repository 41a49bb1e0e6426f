/**
 * GUID Partition Table reading (UEFI spec 2.10 §5.3): protective MBR, primary header at LBA 1,
 * CRC32 of header and entry array, fallback to the backup header at the last LBA when the
 * primary is unusable. The disk is hostile input (anyone with the disk can write it), so every
 * offset and count is bounds-checked before it is used and a table that does not add up is
 * rejected instead of partially trusted.
 * @module
 */
import { crc32 } from "./crc32.ts";
import { decodeGuid, normalizeGuid } from "./guid.ts";

/** Random-access reads of a disk (or disk image). */
export interface DiskReader {
  /** Size of the disk in bytes. */
  readonly size: number;
  /** Returns exactly `length` bytes at byte `offset` (rejects on a short read). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** One used GPT entry. */
export interface GptPartition {
  /** 1-based index in the entry array (the kernel's partition number). */
  index: number;
  /** Partition type GUID, lower case. */
  type: string;
  /** Unique partition GUID, lower case. */
  guid: string;
  /** First LBA (inclusive). */
  firstLba: number;
  /** Last LBA (inclusive). */
  lastLba: number;
  /** Attribute bits (bit 0 required, bit 2 legacy BIOS bootable, 48–63 type specific). */
  attributes: bigint;
  /** Partition name (UTF-16LE on disk, up to 36 code units). */
  name: string;
  /** Byte offset of the partition on the disk. */
  offsetBytes: number;
  /** Size in bytes. */
  sizeBytes: number;
}

/** A parsed partition table. */
export interface GptTable {
  /** Logical sector size the table was read with. */
  sectorSize: number;
  /** Disk GUID, lower case. */
  diskGuid: string;
  firstUsableLba: number;
  lastUsableLba: number;
  /** Which header the table came from. */
  source: "primary" | "backup";
  /** Why the primary header was not used (only when `source` is `"backup"`). */
  primaryError?: string;
  /** Used entries, in entry-array order. */
  partitions: GptPartition[];
}

/** The disk carries no usable GPT; the message says why. */
export class GptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GptError";
  }
}

/** The sector sizes a GPT can be read with. */
export type SectorSize = 512 | 4096;

const SIGNATURE = "EFI PART";
const HEADER_MIN = 92;
const ENTRY_MIN = 128;
/** Upper bound on the entry array we are willing to read: 32× the usual 16 KiB. */
const MAX_ENTRY_ARRAY = 512 * 1024;
const NAME_OFF = 56;
const NAME_BYTES = 72;

/** Reads a little-endian u64 that must fit a JS number (larger = not a real disk). */
function u64(v: DataView, off: number, what: string): number {
  const x = v.getBigUint64(off, true);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new GptError(`${what} ${x} is out of range`);
  return Number(x);
}

/** Checks that LBA 0 holds an MBR with a protective (0xEE) partition record. */
export function checkProtectiveMbr(lba0: Uint8Array): void {
  if (lba0.length < 512) throw new GptError("sector 0 is shorter than an MBR");
  if (lba0[510] !== 0x55 || lba0[511] !== 0xaa) {
    throw new GptError("no MBR boot signature 0x55AA at sector 0");
  }
  for (let i = 0; i < 4; i++) if (lba0[446 + 16 * i + 4] === 0xee) return;
  throw new GptError("the MBR has no protective (type 0xEE) partition record");
}

interface Header {
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  entriesCrc: number;
}

/** Decodes and validates the header sector read from `lba` of a disk of `sectors` sectors. */
function parseHeader(sector: Uint8Array, lba: number, sectors: number): Header {
  const v = new DataView(sector.buffer, sector.byteOffset, sector.byteLength);
  const sig = String.fromCharCode(...sector.subarray(0, 8));
  if (sig !== SIGNATURE) throw new GptError(`no "EFI PART" signature at LBA ${lba}`);
  const headerSize = v.getUint32(12, true);
  if (headerSize < HEADER_MIN || headerSize > sector.length) {
    throw new GptError(`header at LBA ${lba} has invalid size ${headerSize}`);
  }
  const stored = v.getUint32(16, true);
  const copy = sector.slice(0, headerSize);
  copy.fill(0, 16, 20);
  const actual = crc32(copy);
  if (stored !== actual) {
    throw new GptError(
      `header CRC32 mismatch at LBA ${lba} (stored ${hex32(stored)}, computed ${hex32(actual)})`,
    );
  }
  const h: Header = {
    myLba: u64(v, 24, "MyLBA"),
    alternateLba: u64(v, 32, "AlternateLBA"),
    firstUsableLba: u64(v, 40, "FirstUsableLBA"),
    lastUsableLba: u64(v, 48, "LastUsableLBA"),
    diskGuid: decodeGuid(sector, 56),
    entriesLba: u64(v, 72, "PartitionEntryLBA"),
    entryCount: v.getUint32(80, true),
    entrySize: v.getUint32(84, true),
    entriesCrc: v.getUint32(88, true),
  };
  if (h.myLba !== lba) throw new GptError(`header at LBA ${lba} claims to be at LBA ${h.myLba}`);
  if (h.firstUsableLba > h.lastUsableLba || h.lastUsableLba >= sectors) {
    throw new GptError(
      `usable range ${h.firstUsableLba}..${h.lastUsableLba} does not fit a disk of ${sectors} sectors`,
    );
  }
  if (h.entrySize < ENTRY_MIN || (h.entrySize & (h.entrySize - 1)) !== 0) {
    throw new GptError(`entry size ${h.entrySize} is not 128·2^n`);
  }
  const arrayBytes = h.entryCount * h.entrySize;
  if (arrayBytes > MAX_ENTRY_ARRAY) {
    throw new GptError(`entry array of ${h.entryCount}×${h.entrySize} bytes is implausibly large`);
  }
  return h;
}

const hex32 = (n: number) => "0x" + n.toString(16).padStart(8, "0");

/** Decodes the used entries of a CRC-checked array, validating each against the header. */
function parseEntries(arr: Uint8Array, h: Header, sectorSize: number): GptPartition[] {
  const out: GptPartition[] = [];
  const utf16 = new TextDecoder("utf-16le");
  for (let i = 0; i < h.entryCount; i++) {
    const e = arr.subarray(i * h.entrySize, i * h.entrySize + ENTRY_MIN);
    if (e.subarray(0, 16).every((b) => b === 0)) continue; // unused entry
    const v = new DataView(e.buffer, e.byteOffset, e.byteLength);
    const index = i + 1;
    const firstLba = u64(v, 32, `partition ${index} StartingLBA`);
    const lastLba = u64(v, 40, `partition ${index} EndingLBA`);
    if (firstLba > lastLba || firstLba < h.firstUsableLba || lastLba > h.lastUsableLba) {
      throw new GptError(
        `partition ${index} (${firstLba}..${lastLba}) lies outside the usable range ` +
          `${h.firstUsableLba}..${h.lastUsableLba}`,
      );
    }
    const nameUnits = e.subarray(NAME_OFF, NAME_OFF + NAME_BYTES);
    let end = 0;
    while (end < NAME_BYTES && (nameUnits[end] !== 0 || nameUnits[end + 1] !== 0)) end += 2;
    out.push({
      index,
      type: decodeGuid(e, 0),
      guid: decodeGuid(e, 16),
      firstLba,
      lastLba,
      attributes: v.getBigUint64(48, true),
      name: utf16.decode(nameUnits.subarray(0, end)),
      offsetBytes: firstLba * sectorSize,
      sizeBytes: (lastLba - firstLba + 1) * sectorSize,
    });
  }
  // Overlapping partitions would let one role's data alias another's (e.g. data over system).
  const sorted = [...out].sort((a, b) => a.firstLba - b.firstLba);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].firstLba <= sorted[i - 1].lastLba) {
      throw new GptError(`partitions ${sorted[i - 1].index} and ${sorted[i].index} overlap`);
    }
  }
  return out;
}

/** Reads the header at `lba` and its entry array; throws {@link GptError} on any defect. */
async function readTableAt(
  disk: DiskReader,
  sectorSize: number,
  lba: number,
): Promise<Omit<GptTable, "source" | "primaryError">> {
  const sectors = Math.floor(disk.size / sectorSize);
  const h = parseHeader(await disk.read(lba * sectorSize, sectorSize), lba, sectors);
  const arrayBytes = h.entryCount * h.entrySize;
  const arraySectors = Math.ceil(arrayBytes / sectorSize);
  const arrEnd = h.entriesLba + arraySectors; // exclusive
  const overlapsUsable = h.entriesLba <= h.lastUsableLba && arrEnd > h.firstUsableLba;
  if (
    h.entriesLba < 1 || arrEnd > sectors || overlapsUsable || (lba >= h.entriesLba && lba < arrEnd)
  ) {
    throw new GptError(
      `entry array at LBA ${h.entriesLba} (${arraySectors} sectors) overlaps the header, the ` +
        `usable range or the end of the disk`,
    );
  }
  const arr = await disk.read(h.entriesLba * sectorSize, arrayBytes);
  const actual = crc32(arr);
  if (actual !== h.entriesCrc) {
    throw new GptError(
      `entry array CRC32 mismatch (stored ${hex32(h.entriesCrc)}, computed ${hex32(actual)})`,
    );
  }
  return {
    sectorSize,
    diskGuid: h.diskGuid,
    firstUsableLba: h.firstUsableLba,
    lastUsableLba: h.lastUsableLba,
    partitions: parseEntries(arr, h, sectorSize),
  };
}

/**
 * Parses the GPT of `disk` read with logical sector size `sectorSize`. Uses the primary header
 * when it and its entry array are intact, else the backup header at the disk's last LBA (as
 * the kernel does); throws {@link GptError} naming both defects when neither is usable.
 */
export async function parseGpt(disk: DiskReader, sectorSize: SectorSize): Promise<GptTable> {
  if (sectorSize !== 512 && sectorSize !== 4096) {
    throw new GptError(`unsupported sector size ${sectorSize} (want 512 or 4096)`);
  }
  const sectors = Math.floor(disk.size / sectorSize);
  if (sectors < 4) throw new GptError(`disk of ${disk.size} bytes is too small for a GPT`);
  checkProtectiveMbr(await disk.read(0, sectorSize));
  try {
    return { ...(await readTableAt(disk, sectorSize, 1)), source: "primary" };
  } catch (e) {
    if (!(e instanceof GptError)) throw e;
    try {
      const t = await readTableAt(disk, sectorSize, sectors - 1);
      return { ...t, source: "backup", primaryError: e.message };
    } catch (b) {
      if (!(b instanceof GptError)) throw b;
      throw new GptError(`no usable GPT: primary: ${e.message}; backup: ${b.message}`);
    }
  }
}

/** A {@link DiskReader} over bytes in memory (tests, or a prefix already read). */
export function memoryDisk(bytes: Uint8Array): DiskReader {
  return {
    size: bytes.length,
    read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > bytes.length) {
        return Promise.reject(new GptError(`read of ${length} bytes at ${offset} is past the end`));
      }
      return Promise.resolve(bytes.slice(offset, offset + length));
    },
  };
}

/**
 * Opens `path` (a block device or an image file) and parses its GPT. The size comes from
 * seeking to the end, which works for block devices whose `stat` size is 0.
 */
export async function readGpt(path: string, sectorSize: SectorSize): Promise<GptTable> {
  const f = await Deno.open(path, { read: true });
  try {
    const size = await f.seek(0, Deno.SeekMode.End);
    return await parseGpt(fileDisk(f, path, { offset: 0, size }), sectorSize);
  } finally {
    f.close();
  }
}

/**
 * A {@link DiskReader} over the `size` bytes at `offset` of the open file or block device `f`
 * (the whole disk, or one partition of it); `name` appears in errors.
 */
export function fileDisk(
  f: Deno.FsFile,
  name: string,
  range: { offset: number; size: number },
): DiskReader {
  return {
    size: range.size,
    async read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > range.size) {
        throw new GptError(`${name}: read of ${length} bytes at ${offset} is past the end`);
      }
      await f.seek(range.offset + offset, Deno.SeekMode.Start);
      const buf = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = await f.read(buf.subarray(got));
        if (n === null) throw new GptError(`${name}: short read at ${offset + got}`);
        got += n;
      }
      return buf;
    },
  };
}

/** Returns the partitions of `table` whose type GUID is `type` (any case). */
export function partitionsOfType(table: GptTable, type: string): GptPartition[] {
  const t = normalizeGuid(type);
  return table.partitions.filter((p) => p.type === t);
}

/**
 * Returns the single partition of type `type`, undefined when there is none, and throws when
 * there are several: picking one of two "data" partitions silently would be a guess.
 */
export function findPartition(table: GptTable, type: string): GptPartition | undefined {
  const found = partitionsOfType(table, type);
  if (found.length > 1) {
    throw new GptError(
      `${found.length} partitions of type ${normalizeGuid(type)} (${
        found.map((p) => p.index).join(", ")
      }); expected at most one`,
    );
  }
  return found[0];
}

/** Returns the partition whose unique GUID is `guid` (any case), if any. */
export function partitionByGuid(table: GptTable, guid: string): GptPartition | undefined {
  const g = normalizeGuid(guid);
  return table.partitions.find((p) => p.guid === g);
}
