/**
 * Tier-1 tests of the table builders, against lines as `dmsetup table --showkeys` prints them
 * (examples from the kernel's device-mapper docs and cryptsetup-made devices).
 */
import assert from "node:assert/strict";
import { cryptTarget, integrityTarget, tableLine, verityTarget } from "./mod.ts";

const KEY = Uint8Array.from({ length: 64 }, (_, i) => i);
const KEY_HEX = Array.from(KEY, (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("crypt: AES-XTS with discards is the dmsetup table line", () => {
  const t = cryptTarget({ length: 8388608, key: KEY, device: "8:2", allowDiscards: true });
  assert.equal(
    tableLine(t),
    `0 8388608 crypt aes-xts-plain64 ${KEY_HEX} 0 8:2 0 1 allow_discards`,
  );
});

Deno.test("crypt: the dm-crypt.rst examples (hex key and keyring key)", () => {
  const key = Uint8Array.from([
    0x01,
    0x23,
    0x45,
    0x67,
    0x89,
    0xab,
    0xcd,
    0xef,
    0x01,
    0x23,
    0x45,
    0x67,
    0x89,
    0xab,
    0xcd,
    0xef,
  ]);
  const base = { length: 2097152, cipher: "aes-cbc-essiv:sha256", device: "/dev/hda" };
  assert.equal(
    tableLine(cryptTarget({ ...base, key })),
    "0 2097152 crypt aes-cbc-essiv:sha256 0123456789abcdef0123456789abcdef 0 /dev/hda 0",
  );
  assert.equal(
    tableLine(
      cryptTarget({ ...base, key: { size: 32, type: "logon", description: "my_prefix:my_key" } }),
    ),
    "0 2097152 crypt aes-cbc-essiv:sha256 :32:logon:my_prefix:my_key 0 /dev/hda 0",
  );
});

Deno.test("crypt: optional arguments come in the kernel's crypt_status order", () => {
  const t = cryptTarget({
    length: 1000,
    cipher: "capi:authenc(hmac(sha256),xts(aes))-random",
    key: KEY,
    device: "253:0",
    // Given in a different order than printed: the builder orders them.
    ivLargeSectors: true,
    sectorSize: 4096,
    integrity: { tagBytes: 48, type: "hmac(sha256)" },
    noWriteWorkqueue: true,
    noReadWorkqueue: true,
    submitFromCryptCpus: true,
    sameCpuCrypt: true,
    allowDiscards: true,
  });
  assert.equal(
    t.params,
    `capi:authenc(hmac(sha256),xts(aes))-random ${KEY_HEX} 0 253:0 0 8 allow_discards ` +
      "same_cpu_crypt submit_from_crypt_cpus no_read_workqueue no_write_workqueue " +
      "integrity:48:hmac(sha256) sector_size:4096 iv_large_sectors",
  );
  // 512 is the default and is never printed.
  assert.equal(
    cryptTarget({ length: 8, key: KEY, device: "8:2", sectorSize: 512 }).params,
    `aes-xts-plain64 ${KEY_HEX} 0 8:2 0`,
  );
});

Deno.test("crypt: arguments that would shift the kernel's parsing are refused", () => {
  assert.throws(() => cryptTarget({ length: 8, key: KEY, device: "/dev/my disk" }), /one word/);
  assert.throws(() => cryptTarget({ length: 8, key: new Uint8Array(), device: "8:2" }), /empty/);
  assert.throws(() => cryptTarget({ length: 0, key: KEY, device: "8:2" }), /length 0/);
  assert.throws(
    () => cryptTarget({ length: 8, key: KEY, device: "8:2", sectorSize: 8192 }),
    /sector size 8192/,
  );
});

Deno.test("integrity: a journalled crc32c device in the kernel's dm_integrity_status order", () => {
  const t = integrityTarget({
    length: 7856,
    device: "7:0",
    tagBytes: 4,
    mode: "J",
    journalSectors: 88,
    interleaveSectors: 32768,
    bufferSectors: 128,
    journalWatermark: 50,
    commitTime: 10000,
    fixPadding: true,
    internalHash: "crc32c",
  });
  assert.equal(
    tableLine(t),
    "0 7856 integrity 7:0 0 4 J 7 journal_sectors:88 interleave_sectors:32768 " +
      "buffer_sectors:128 journal_watermark:50 commit_time:10000 fix_padding internal_hash:crc32c",
  );
});

Deno.test("integrity: block size, discards and a keyed HMAC precede the journal options", () => {
  const t = integrityTarget({
    length: 8,
    device: "8:3",
    offset: 0,
    tagBytes: 32,
    mode: "D",
    internalHash: "hmac(sha256):00ff",
    allowDiscards: true,
    blockSize: 4096,
  });
  assert.equal(
    t.params,
    "8:3 0 32 D 3 block_size:4096 allow_discards internal_hash:hmac(sha256):00ff",
  );
  assert.equal(
    integrityTarget({ length: 8, device: "8:3", tagBytes: 28, mode: "J" }).params,
    "8:3 0 28 J 0",
  );
});

Deno.test("verity: the verity.rst example line", () => {
  const t = verityTarget({
    dataDevice: "/dev/sda1",
    hashDevice: "/dev/sda2",
    dataBlocks: 262144,
    hashStartBlock: 1,
    rootHash: "4392712ba01368efdf14b05c76f9e4df0d53664630b5d48632ed17a137f39076",
    salt: "1234000000000000000000000000000000000000000000000000000000000000",
  });
  assert.equal(
    tableLine(t),
    "0 2097152 verity 1 /dev/sda1 /dev/sda2 4096 4096 262144 1 sha256 " +
      "4392712ba01368efdf14b05c76f9e4df0d53664630b5d48632ed17a137f39076 " +
      "1234000000000000000000000000000000000000000000000000000000000000",
  );
});

Deno.test("verity: no salt prints '-', and options follow in verity_status order", () => {
  const root = new Uint8Array(32).fill(0xab);
  const t = verityTarget({
    dataDevice: "259:2",
    hashDevice: "259:2",
    dataBlocks: 1000,
    hashStartBlock: 1000,
    rootHash: root,
    rootHashSigKeyDesc: "verity:root",
    checkAtMostOnce: true,
    ignoreZeroBlocks: true,
    onCorruption: "restart_on_corruption",
  });
  assert.equal(
    t.params,
    `1 259:2 259:2 4096 4096 1000 1000 sha256 ${"ab".repeat(32)} - 5 restart_on_corruption ` +
      "ignore_zero_blocks check_at_most_once root_hash_sig_key_desc verity:root",
  );
  assert.equal(t.length, 8000);
});

Deno.test("verity: malformed hashes and block sizes are refused", () => {
  const base = { dataDevice: "8:1", hashDevice: "8:2", dataBlocks: 1, hashStartBlock: 0 };
  assert.throws(() => verityTarget({ ...base, rootHash: "xyz" }), /hex/);
  assert.throws(() => verityTarget({ ...base, rootHash: "" }), /empty/);
  assert.throws(
    () => verityTarget({ ...base, rootHash: "ab", dataBlockSize: 1000 }),
    /power of two/,
  );
});
