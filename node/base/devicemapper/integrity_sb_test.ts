/**
 * Tier-1 tests of the dm-integrity superblock decoder and layout arithmetic. The numbers are
 * worked out by hand from drivers/md/dm-integrity.c (6.1) for the node's data partition format
 * (28-byte tags, 4 KiB blocks, fix_padding); the VM storage suite checks them against the kernel
 * by flipping the sector {@link dataSectorOf} names and expecting the AEAD error.
 */
import assert from "node:assert/strict";
import {
  dataSectorOf,
  decodeIntegritySuperblock,
  INTEGRITY_SB_FLAG,
  integrityInitialSectors,
  integrityMetadataRun,
  type IntegritySuperblock,
  journalCopiesOf,
} from "./integrity_sb.ts";

function encode(sb: IntegritySuperblock, magic = "integrt\0"): Uint8Array {
  const b = new Uint8Array(4096);
  const v = new DataView(b.buffer);
  for (let i = 0; i < 8; i++) b[i] = magic.charCodeAt(i);
  b[8] = sb.version;
  b[9] = sb.log2InterleaveSectors;
  v.setUint16(10, sb.tagSize, true);
  v.setUint32(12, sb.journalSections, true);
  v.setBigUint64(16, BigInt(sb.providedDataSectors), true);
  v.setUint32(24, sb.flags, true);
  b[28] = sb.log2SectorsPerBlock;
  return b;
}

/** What the kernel writes for a 4 GiB partition with `28 J block_size:4096 fix_padding`. */
const NODE: IntegritySuperblock = {
  version: 5,
  log2InterleaveSectors: 15, // DEFAULT_INTERLEAVE_SECTORS 32768
  tagSize: 28,
  // journal_sectors = 8388608 >> 7 = 65536; section = 32 entries × 8 sectors + 8 = 264 sectors.
  journalSections: 248,
  providedDataSectors: 8_000_000,
  flags: INTEGRITY_SB_FLAG.FIXED_PADDING,
  log2SectorsPerBlock: 3,
};

Deno.test("integrity superblock: fields at their offsets round-trip", () => {
  assert.deepEqual(decodeIntegritySuperblock(encode(NODE)), NODE);
});

Deno.test("integrity superblock: no magic (zeros, XFS, other data) is 'not formatted'", () => {
  assert.equal(decodeIntegritySuperblock(new Uint8Array(4096)), undefined);
  assert.equal(decodeIntegritySuperblock(encode(NODE, "XFSB\0\0\0\0")), undefined);
});

Deno.test("integrity superblock: impossible fields behind the magic are errors", () => {
  assert.throws(() => decodeIntegritySuperblock(encode({ ...NODE, version: 0 })), /version 0/);
  assert.throws(
    () => decodeIntegritySuperblock(encode({ ...NODE, providedDataSectors: 0 })),
    /provided_data_sectors 0/,
  );
  assert.throws(
    () => decodeIntegritySuperblock(encode({ ...NODE, log2InterleaveSectors: 2 })),
    /log2_interleave_sectors 2/,
  );
  assert.throws(() => decodeIntegritySuperblock(new Uint8Array(8)), /too short/);
});

Deno.test("integrity layout: journal of 248 sections of 264 sectors after the 8-sector superblock", () => {
  assert.equal(integrityInitialSectors(NODE), 8 + 248 * 264);
  // A journal MAC takes 8 bytes per sector: 496 / 104 is still 4 entries per sector.
  assert.equal(
    integrityInitialSectors({ ...NODE, flags: NODE.flags | INTEGRITY_SB_FLAG.HAVE_JOURNAL_MAC }),
    8 + 248 * 264,
  );
  // 512-byte blocks: entries of 8+8+28 → 48 bytes, 10 per sector, 80 per section.
  assert.equal(
    integrityInitialSectors({ ...NODE, log2SectorsPerBlock: 0, journalSections: 1 }),
    8 + 80 + 8,
  );
});

Deno.test("integrity layout: metadata run = 4096 tags of 28 bytes, padded to 4 KiB or 128 KiB", () => {
  assert.equal(integrityMetadataRun(NODE), (28 * 4096) / 512); // 224, already 4 KiB aligned
  assert.equal(integrityMetadataRun({ ...NODE, flags: 0 }), 256); // legacy 128 KiB padding
});

Deno.test("integrity layout: data sector of logical sectors in the first and second area", () => {
  const initial = 8 + 248 * 264;
  assert.equal(dataSectorOf(NODE, 0), initial + 224);
  assert.equal(dataSectorOf(NODE, 7), initial + 224 + 7);
  assert.equal(dataSectorOf(NODE, 32768), 32768 + 2 * 224 + initial);
  assert.throws(() => dataSectorOf(NODE, NODE.providedDataSectors), RangeError);
});

Deno.test("integrity journal: copies of a block are found by entry, in the entry's data slot", () => {
  const sb = { ...NODE, journalSections: 2 };
  const sectionSectors = 264;
  const journal = new Uint8Array(2 * sectionSectors * 512);
  const v = new DataView(journal.buffer);
  // Every entry unused (sector_hi = 0xffffffff), as init_journal leaves them.
  for (let s = 0; s < 2; s++) {
    for (let n = 0; n < 32; n++) {
      const off = (s * sectionSectors + (n % 8)) * 512 + Math.floor(n / 8) * 104;
      v.setUint32(off + 4, 0xffffffff, true);
    }
  }
  const setEntry = (s: number, n: number, sector: number) => {
    const off = (s * sectionSectors + (n % 8)) * 512 + Math.floor(n / 8) * 104;
    v.setBigUint64(off, BigInt(sector), true);
  };
  setEntry(0, 9, 0); // entry 9: sector 1, slot 1
  setEntry(1, 31, 0);
  setEntry(1, 0, 8); // another block
  assert.deepEqual(journalCopiesOf(sb, journal, 0), [
    8 + 0 * sectionSectors + 8 + 9 * 8,
    8 + 1 * sectionSectors + 8 + 31 * 8,
  ]);
  assert.deepEqual(journalCopiesOf(sb, journal, 8), [8 + sectionSectors + 8]);
  assert.deepEqual(journalCopiesOf(sb, journal, 16), []);
  assert.throws(() => journalCopiesOf(sb, journal.subarray(1), 0), /shorter/);
});
