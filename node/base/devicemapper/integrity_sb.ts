/**
 * The dm-integrity on-disk superblock (`struct superblock` of the kernel's
 * drivers/md/dm-integrity.c) and the device layout it implies, for a device without a separate
 * metadata device. The kernel writes the superblock when it loads an `integrity` table onto a
 * device whose first 4 KiB are zero; userspace reads `provided_data_sectors` from it to size
 * the table (what integritysetup does), and tests use {@link dataSectorOf} to find where a
 * logical sector's data lives on the raw device.
 *
 * Superblock (little endian): 0 magic "integrt\0" · 8 version u8 · 9 log2_interleave_sectors u8
 * · 10 integrity_tag_size u16 · 12 journal_sections u32 · 16 provided_data_sectors u64
 * · 24 flags u32 · 28 log2_sectors_per_block u8 · 29 log2_blocks_per_bitmap_bit u8.
 *
 * Layout: superblock (8 sectors), journal (`journal_sections` sections), then areas of
 * `2^log2_interleave_sectors` data sectors, each preceded by its metadata run (the tags of that
 * area, padded).
 * @module
 */

/** Sectors of the superblock at the start of the device (`SB_SECTORS`): 4 KiB. */
export const INTEGRITY_SB_SECTORS = 8;
/** The superblock magic, NUL included. */
export const INTEGRITY_MAGIC = "integrt\0";

/** Superblock flags (`SB_FLAG_*`). */
export const INTEGRITY_SB_FLAG = {
  HAVE_JOURNAL_MAC: 0x1,
  RECALCULATING: 0x2,
  DIRTY_BITMAP: 0x4,
  FIXED_PADDING: 0x8,
  FIXED_HMAC: 0x10,
} as const;

/** A decoded superblock. */
export interface IntegritySuperblock {
  version: number;
  log2InterleaveSectors: number;
  tagSize: number;
  journalSections: number;
  /** Sectors (512 bytes) the device provides to the layer above: the table length to load. */
  providedDataSectors: number;
  flags: number;
  log2SectorsPerBlock: number;
}

/**
 * Decodes the superblock from the first bytes of a device. Returns undefined when there is no
 * dm-integrity magic (never formatted, or something else); throws when the magic is there but
 * the fields cannot be a superblock the kernel wrote.
 */
export function decodeIntegritySuperblock(b: Uint8Array): IntegritySuperblock | undefined {
  if (b.length < 32) {
    throw new RangeError(`dm-integrity superblock: ${b.length} bytes is too short`);
  }
  for (let i = 0; i < 8; i++) if (b[i] !== INTEGRITY_MAGIC.charCodeAt(i)) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const provided = v.getBigUint64(16, true);
  const sb: IntegritySuperblock = {
    version: b[8],
    log2InterleaveSectors: b[9],
    tagSize: v.getUint16(10, true),
    journalSections: v.getUint32(12, true),
    providedDataSectors: Number(provided),
    flags: v.getUint32(24, true),
    log2SectorsPerBlock: b[28],
  };
  const bad = (what: string) => new Error(`dm-integrity superblock: ${what}`);
  if (provided === 0n || provided > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw bad(`provided_data_sectors ${provided} is out of range`);
  }
  if (sb.version < 1 || sb.version > 5) throw bad(`unknown version ${sb.version}`);
  if (sb.log2SectorsPerBlock > 3) throw bad(`log2_sectors_per_block ${sb.log2SectorsPerBlock}`);
  if (sb.tagSize === 0 || sb.tagSize > 255) throw bad(`tag size ${sb.tagSize}`);
  if (sb.log2InterleaveSectors < 3 || sb.log2InterleaveSectors > 31) {
    throw bad(`log2_interleave_sectors ${sb.log2InterleaveSectors}`);
  }
  return sb;
}

const JOURNAL_BLOCK_SECTORS = 8;
/** Bytes of a journal sector that hold entries (512 minus the commit id). */
const JOURNAL_SECTOR_DATA = 512 - 8;
const JOURNAL_MAC_PER_SECTOR = 8;
const JOURNAL_ENTRY_ROUNDUP = 8;

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Journal geometry (`calculate_journal_section_size`). */
export function integrityJournalGeometry(sb: IntegritySuperblock): {
  entrySize: number;
  sectionEntries: number;
  sectionSectors: number;
} {
  const sectorsPerBlock = 1 << sb.log2SectorsPerBlock;
  const entrySize = roundUp(8 + 8 * sectorsPerBlock + sb.tagSize, JOURNAL_ENTRY_ROUNDUP);
  const space = JOURNAL_SECTOR_DATA -
    (sb.flags & INTEGRITY_SB_FLAG.HAVE_JOURNAL_MAC ? JOURNAL_MAC_PER_SECTOR : 0);
  const sectionEntries = Math.floor(space / entrySize) * JOURNAL_BLOCK_SECTORS;
  const sectionSectors = (sectionEntries << sb.log2SectorsPerBlock) + JOURNAL_BLOCK_SECTORS;
  return { entrySize, sectionEntries, sectionSectors };
}

/** Sectors before the first metadata run: superblock + journal (`ic->initial_sectors`). */
export function integrityInitialSectors(sb: IntegritySuperblock): number {
  return INTEGRITY_SB_SECTORS + integrityJournalGeometry(sb).sectionSectors * sb.journalSections;
}

/**
 * Raw-device sectors where the journal holds a copy of the block starting at logical `sector`
 * (`access_journal_entry` / `access_journal_data`), whatever the entry's commit state. `journal`
 * is the raw device from sector {@link INTEGRITY_SB_SECTORS} up to
 * {@link integrityInitialSectors}. A write in journal mode lands here first and reaches its place
 * in the data area only when the journal is flushed; the next activation replays committed
 * entries over the data area.
 */
export function journalCopiesOf(
  sb: IntegritySuperblock,
  journal: Uint8Array,
  sector: number,
): number[] {
  const g = integrityJournalGeometry(sb);
  const need = g.sectionSectors * sb.journalSections * 512;
  if (journal.length < need) {
    throw new RangeError(`journal of ${journal.length} bytes is shorter than ${need}`);
  }
  const v = new DataView(journal.buffer, journal.byteOffset, journal.byteLength);
  const want = BigInt(sector);
  const out: number[] = [];
  for (let s = 0; s < sb.journalSections; s++) {
    for (let n = 0; n < g.sectionEntries; n++) {
      const metaSector = s * g.sectionSectors + (n % JOURNAL_BLOCK_SECTORS);
      const off = metaSector * 512 + Math.floor(n / JOURNAL_BLOCK_SECTORS) * g.entrySize;
      if (v.getBigUint64(off, true) !== want) continue;
      out.push(
        INTEGRITY_SB_SECTORS + s * g.sectionSectors + JOURNAL_BLOCK_SECTORS +
          (n << sb.log2SectorsPerBlock),
      );
    }
  }
  return out;
}

/** Sectors of one area's metadata run (`ic->metadata_run`). */
export function integrityMetadataRun(sb: IntegritySuperblock): number {
  const padding = sb.flags & INTEGRITY_SB_FLAG.FIXED_PADDING ? 8 * 512 : 512 << 8;
  const bytes = sb.tagSize * 2 ** (sb.log2InterleaveSectors - sb.log2SectorsPerBlock);
  return roundUp(bytes, padding) / 512;
}

/**
 * The sector of the raw device holding logical sector `sector` of the integrity device's data
 * (the kernel's `get_area_and_offset` + `get_data_sector`, table offset 0).
 */
export function dataSectorOf(sb: IntegritySuperblock, sector: number): number {
  if (!Number.isSafeInteger(sector) || sector < 0 || sector >= sb.providedDataSectors) {
    throw new RangeError(`sector ${sector} is outside 0..${sb.providedDataSectors - 1}`);
  }
  const interleave = 2 ** sb.log2InterleaveSectors;
  const area = Math.floor(sector / interleave);
  const offset = sector % interleave;
  return area * interleave + (area + 1) * integrityMetadataRun(sb) +
    integrityInitialSectors(sb) + offset;
}
