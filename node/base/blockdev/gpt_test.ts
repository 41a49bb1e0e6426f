/**
 * Tier-1 tests of GPT reading: real tables written by `sgdisk` (512-byte sectors) and `fdisk -b
 * 4096` on sparse temp files, then hand-corrupted or hand-edited (with recomputed CRCs, so the
 * parser's own validation is what rejects them).
 */
import assert from "node:assert/strict";
import { commandOutput } from "../sys/command.ts";
import {
  crc32,
  findPartition,
  GptError,
  memoryDisk,
  parseGpt,
  PARTITION_TYPES,
  partitionByGuid,
  partitionsOfType,
  readGpt,
} from "./mod.ts";

const MiB = 1024 * 1024;
const DISK_GUID = "11111111-2222-4333-8444-555555555555";
const ESP_GUID = "aaaaaaaa-0000-4000-8000-000000000001";
const DATA_GUID = "aaaaaaaa-0000-4000-8000-000000000004";

async function run(cmd: string, args: string[], stdin?: string): Promise<void> {
  const out = await commandOutput(cmd, args, { stdin });
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** A 64 MiB sparse image with the node layout (small sizes) written by sgdisk. */
async function sgdiskImage(): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "gpt-test-", suffix: ".img" });
  await Deno.truncate(path, 64 * MiB);
  await run("sgdisk", [
    "-o",
    `-U`,
    DISK_GUID,
    "-n",
    "1:2048:+4M",
    "-t",
    `1:${PARTITION_TYPES.esp}`,
    "-c",
    "1:ESP",
    "-u",
    `1:${ESP_GUID}`,
    "-A",
    "1:set:2",
    "-n",
    "2:0:+16M",
    "-t",
    `2:${PARTITION_TYPES.systemA}`,
    "-c",
    "2:METROPOLIS-SYSTEM-A",
    "-n",
    "3:0:+16M",
    "-t",
    `3:${PARTITION_TYPES.systemB}`,
    "-c",
    "3:METROPOLIS-SYSTEM-B",
    "-n",
    "4:0:0",
    "-t",
    `4:${PARTITION_TYPES.data}`,
    "-c",
    "4:METROPOLIS-NODE-DATA",
    "-u",
    `4:${DATA_GUID}`,
    path,
  ]);
  return path;
}

let pristine: Promise<Uint8Array> | undefined;

/**
 * Runs `fn` on a fresh copy of the sgdisk image (bytes and a temp file holding them). sgdisk
 * sleeps about a second after writing, so the image is made once per test run.
 */
async function withImage(fn: (bytes: Uint8Array, path: string) => Promise<void>): Promise<void> {
  pristine ??= sgdiskImage().then(async (p) => {
    try {
      return await Deno.readFile(p);
    } finally {
      await Deno.remove(p);
    }
  });
  const bytes = (await pristine).slice();
  const path = await Deno.makeTempFile({ prefix: "gpt-test-", suffix: ".img" });
  try {
    await Deno.writeFile(path, bytes);
    await fn(bytes, path);
  } finally {
    await Deno.remove(path);
  }
}

/** Applies `edit` to the header at `lba` and recomputes its CRC, as a forger would. */
function forgeHeader(img: Uint8Array, lba: number, edit: (v: DataView) => void, ss = 512): void {
  const v = new DataView(img.buffer, img.byteOffset + lba * ss, 92);
  edit(v);
  v.setUint32(16, 0, true);
  v.setUint32(16, crc32(img.subarray(lba * ss, lba * ss + 92)), true);
}

/** Applies `edit` to the primary entry array and recomputes both CRCs. */
function forgeEntries(img: Uint8Array, edit: (entries: DataView) => void): void {
  const h = new DataView(img.buffer, img.byteOffset + 512, 92);
  const at = Number(h.getBigUint64(72, true)) * 512;
  const len = h.getUint32(80, true) * h.getUint32(84, true);
  edit(new DataView(img.buffer, img.byteOffset + at, len));
  forgeHeader(img, 1, (v) => v.setUint32(88, crc32(img.subarray(at, at + len)), true));
}

const lastLba = (img: Uint8Array) => img.length / 512 - 1;

Deno.test("crc32 matches the IEEE check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array()), 0);
});

Deno.test("an sgdisk table yields every node partition by type GUID", async () => {
  await withImage(async (bytes) => {
    const t = await parseGpt(memoryDisk(bytes), 512);
    assert.equal(t.source, "primary");
    assert.equal(t.diskGuid, DISK_GUID);
    assert.equal(t.partitions.length, 4);
    const esp = findPartition(t, PARTITION_TYPES.esp)!;
    assert.deepEqual(
      { ...esp },
      {
        index: 1,
        type: PARTITION_TYPES.esp,
        guid: ESP_GUID,
        firstLba: 2048,
        lastLba: 2048 + 8192 - 1,
        attributes: 4n,
        name: "ESP",
        offsetBytes: MiB,
        sizeBytes: 4 * MiB,
      },
    );
    assert.equal(findPartition(t, PARTITION_TYPES.systemA)?.name, "METROPOLIS-SYSTEM-A");
    assert.equal(findPartition(t, PARTITION_TYPES.systemA)?.sizeBytes, 16 * MiB);
    assert.equal(findPartition(t, PARTITION_TYPES.systemB)?.index, 3);
    const data = findPartition(t, PARTITION_TYPES.data)!;
    assert.equal(data.name, "METROPOLIS-NODE-DATA");
    assert.equal(data.lastLba, t.lastUsableLba);
    assert.equal(partitionByGuid(t, DATA_GUID.toUpperCase())?.index, 4);
  });
});

Deno.test("type lookup accepts the upper-case ESP GUID of the UEFI spec", async () => {
  await withImage(async (bytes) => {
    const t = await parseGpt(memoryDisk(bytes), 512);
    assert.equal(findPartition(t, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B")?.index, 1);
    assert.equal(findPartition(t, "00000000-0000-0000-0000-000000000001"), undefined);
    assert.throws(() => findPartition(t, "not-a-guid"), TypeError);
  });
});

Deno.test("readGpt reads an image file by path", async () => {
  await withImage(async (_bytes, path) => {
    const t = await readGpt(path, 512);
    assert.equal(
      t.partitions.map((p) => p.name).join(","),
      [
        "ESP",
        "METROPOLIS-SYSTEM-A",
        "METROPOLIS-SYSTEM-B",
        "METROPOLIS-NODE-DATA",
      ].join(","),
    );
  });
});

Deno.test("a 4096-byte-sector table from fdisk -b 4096 is read with sector size 4096", async () => {
  const path = await Deno.makeTempFile({ prefix: "gpt-4k-", suffix: ".img" });
  try {
    await Deno.truncate(path, 64 * MiB);
    const script = [
      "g", // new GPT
      "n",
      "1",
      "",
      "+4M",
      "t",
      PARTITION_TYPES.esp,
      "n",
      "2",
      "",
      "",
      "t",
      "2",
      PARTITION_TYPES.data,
      "x",
      "n",
      "2",
      "METROPOLIS-NODE-DATA",
      "r",
      "w",
      "",
    ].join("\n");
    await run("fdisk", ["-b", "4096", path], script);
    const t = await readGpt(path, 4096);
    assert.equal(t.sectorSize, 4096);
    const esp = findPartition(t, PARTITION_TYPES.esp)!;
    assert.equal(esp.sizeBytes, 4 * MiB);
    assert.equal(esp.offsetBytes, esp.firstLba * 4096);
    assert.equal(findPartition(t, PARTITION_TYPES.data)?.name, "METROPOLIS-NODE-DATA");
    // The same disk read as 512-byte sectors has no header at LBA 1 nor at the last LBA.
    await assert.rejects(readGpt(path, 512), /no "EFI PART" signature at LBA 1/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("a corrupt primary header falls back to the backup header", async () => {
  await withImage(async (bytes) => {
    bytes[512 + 60] ^= 0xff; // inside the disk GUID: the header CRC no longer matches
    const t = await parseGpt(memoryDisk(bytes), 512);
    assert.equal(t.source, "backup");
    assert.match(t.primaryError!, /header CRC32 mismatch at LBA 1/);
    assert.equal(t.diskGuid, DISK_GUID);
    assert.equal(findPartition(t, PARTITION_TYPES.data)?.guid, DATA_GUID);
  });
});

Deno.test("a corrupt primary entry array falls back to the backup array", async () => {
  await withImage(async (bytes) => {
    bytes[2 * 512 + 56] ^= 0x01; // first letter of the ESP's name
    const t = await parseGpt(memoryDisk(bytes), 512);
    assert.equal(t.source, "backup");
    assert.match(t.primaryError!, /entry array CRC32 mismatch/);
    assert.equal(findPartition(t, PARTITION_TYPES.esp)?.name, "ESP");
  });
});

Deno.test("a wiped primary signature falls back to the backup header", async () => {
  await withImage(async (bytes) => {
    bytes.fill(0, 512, 1024);
    const t = await parseGpt(memoryDisk(bytes), 512);
    assert.equal(t.source, "backup");
    assert.match(t.primaryError!, /no "EFI PART" signature at LBA 1/);
  });
});

Deno.test("both headers corrupt is an error naming both defects", async () => {
  await withImage(async (bytes) => {
    bytes[512 + 60] ^= 0xff;
    bytes[lastLba(bytes) * 512 + 60] ^= 0xff;
    await assert.rejects(
      parseGpt(memoryDisk(bytes), 512),
      (e: Error) =>
        e instanceof GptError && /primary: header CRC32 mismatch at LBA 1/.test(e.message) &&
        /backup: header CRC32 mismatch at LBA 131071/.test(e.message),
    );
  });
});

Deno.test("a disk without a protective MBR is rejected", async () => {
  await withImage(async (bytes) => {
    bytes[510] = 0;
    await assert.rejects(parseGpt(memoryDisk(bytes), 512), /no MBR boot signature/);
    bytes[510] = 0x55;
    bytes[446 + 4] = 0x83; // the 0xEE record becomes a Linux partition
    await assert.rejects(parseGpt(memoryDisk(bytes), 512), /no protective \(type 0xEE\)/);
  });
});

Deno.test("forged headers with valid CRCs are still validated", async (t) => {
  const cases: [string, (v: DataView) => void, RegExp][] = [
    ["a huge entry array", (v) => v.setUint32(80, 1 << 20, true), /implausibly large/],
    ["an odd entry size", (v) => v.setUint32(84, 130, true), /entry size 130/],
    ["a wrong MyLBA", (v) => v.setBigUint64(24, 7n, true), /claims to be at LBA 7/],
    ["a usable range past the disk", (v) => v.setBigUint64(48, 1n << 40n, true), /usable range/],
    ["an array inside the usable range", (v) => v.setBigUint64(72, 4096n, true), /entry array/],
    ["an oversized header", (v) => v.setUint32(12, 600, true), /invalid size 600/],
    ["a u64 beyond 2^53", (v) => v.setBigUint64(40, 1n << 60n, true), /out of range/],
  ];
  for (const [what, edit, want] of cases) {
    await t.step(`${what} is rejected`, async () => {
      await withImage(async (bytes) => {
        forgeHeader(bytes, 1, edit);
        const table = await parseGpt(memoryDisk(bytes), 512);
        assert.equal(table.source, "backup");
        assert.match(table.primaryError!, want);
      });
    });
  }
});

Deno.test("forged entries outside the usable range or overlapping are rejected", async (t) => {
  await t.step("an entry past LastUsableLBA", async () => {
    await withImage(async (bytes) => {
      forgeEntries(bytes, (e) => e.setBigUint64(3 * 128 + 40, BigInt(lastLba(bytes)), true));
      const table = await parseGpt(memoryDisk(bytes), 512);
      assert.equal(table.source, "backup");
      assert.match(table.primaryError!, /partition 4 .* lies outside the usable range/);
    });
  });
  await t.step("an entry whose last LBA precedes its first", async () => {
    await withImage(async (bytes) => {
      forgeEntries(bytes, (e) => e.setBigUint64(40, 100n, true));
      const table = await parseGpt(memoryDisk(bytes), 512);
      assert.match(table.primaryError!, /partition 1 \(2048\.\.100\)/);
    });
  });
  await t.step("two entries sharing sectors", async () => {
    await withImage(async (bytes) => {
      forgeEntries(bytes, (e) => e.setBigUint64(128 + 32, 4096n, true));
      const table = await parseGpt(memoryDisk(bytes), 512);
      assert.match(table.primaryError!, /partitions 1 and 2 overlap/);
    });
  });
});

Deno.test("two partitions of one type make the lookup ambiguous", async () => {
  await withImage(async (bytes) => {
    // Give the system B entry the data type GUID (bytes of entry 3, type field).
    const t0 = await parseGpt(memoryDisk(bytes), 512);
    const dataType = bytes.slice(2 * 512 + 3 * 128, 2 * 512 + 3 * 128 + 16);
    forgeEntries(bytes, (e) => new Uint8Array(e.buffer, e.byteOffset + 2 * 128, 16).set(dataType));
    bytes.fill(0, lastLba(bytes) * 512, bytes.length); // no backup to fall back to
    const t = await parseGpt(memoryDisk(bytes), 512);
    assert.equal(t0.partitions.length, t.partitions.length);
    assert.equal(partitionsOfType(t, PARTITION_TYPES.data).length, 2);
    assert.throws(() => findPartition(t, PARTITION_TYPES.data), /2 partitions of type .* \(3, 4\)/);
  });
});

Deno.test("unsupported sector sizes and tiny disks are rejected", async () => {
  await assert.rejects(parseGpt(memoryDisk(new Uint8Array(8192)), 1024 as 512), /sector size 1024/);
  await assert.rejects(parseGpt(memoryDisk(new Uint8Array(1024)), 512), /too small/);
});
