/**
 * Tier-1 tests of GPT writing: tables written to sparse temp files are accepted by `sgdisk
 * --verify` (an independent implementation) and read back by our own parser unchanged.
 */
import assert from "node:assert/strict";
import {
  fileWriter,
  memoryDisk,
  parseGpt,
  PARTITION_TYPES,
  planGpt,
  readGpt,
  writeGpt,
} from "./mod.ts";

const MiB = 1024 * 1024;
const g = (n: number) => `aaaaaaaa-0000-4000-8000-${n.toString().padStart(12, "0")}`;

function nodeDisk(sizeMiB: number) {
  return planGpt({
    diskSizeBytes: sizeMiB * MiB,
    diskGuid: g(0),
    partitions: [
      { name: "ESP", type: PARTITION_TYPES.esp, guid: g(1), sizeBytes: 128 * MiB },
      {
        name: "METROPOLIS-SYSTEM-A",
        type: PARTITION_TYPES.systemA,
        guid: g(2),
        sizeBytes: 1024 * MiB,
      },
      {
        name: "METROPOLIS-SYSTEM-B",
        type: PARTITION_TYPES.systemB,
        guid: g(3),
        sizeBytes: 1024 * MiB,
      },
      { name: "METROPOLIS-NODE-DATA", type: PARTITION_TYPES.data, guid: g(4), sizeBytes: 0 },
    ],
  });
}

async function sgdisk(args: string[]): Promise<string> {
  const out = await new Deno.Command("sgdisk", { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`sgdisk ${args.join(" ")}: ${text}`);
  return text;
}

Deno.test("a written node disk GPT passes sgdisk --verify and parses back as planned", async () => {
  const path = await Deno.makeTempFile();
  try {
    const plan = nodeDisk(2400);
    {
      using f = await Deno.open(path, { write: true });
      await f.truncate(2400 * MiB);
      await writeGpt(fileWriter(f), plan);
    }
    assert.match(await sgdisk(["--verify", path]), /No problems found/);
    const printed = await sgdisk(["--print", path]);
    assert.match(printed, /^\s+2\s+264192\s+2361343\s.*METROPOLIS-SYSTEM-A$/m);
    const t = await readGpt(path, 512);
    assert.equal(t.source, "primary");
    assert.equal(t.diskGuid, g(0));
    assert.deepEqual(
      t.partitions.map((p) => [p.index, p.name, p.type, p.guid, p.offsetBytes]),
      plan.partitions.map((p) => [p.index, p.name, p.type, p.guid, p.offsetBytes]),
    );
    assert.equal(t.partitions[0].offsetBytes, MiB);
    assert.equal(t.partitions[3].lastLba, plan.lastUsableLba);
    // The backup alone is intact too: wipe the primary header and read again.
    {
      using f = await Deno.open(path, { write: true });
      await fileWriter(f).write(512, new Uint8Array(512));
    }
    const b = await readGpt(path, 512);
    assert.equal(b.source, "backup");
    assert.equal(b.partitions.length, 4);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("4096-byte sectors: the table parses back with the same byte offsets", async () => {
  const plan = planGpt({
    diskSizeBytes: 64 * MiB,
    sectorSize: 4096,
    diskGuid: g(9),
    partitions: [{
      name: "MetropolisInstaller",
      type: PARTITION_TYPES.esp,
      guid: g(8),
      sizeBytes: 32 * MiB,
    }],
  });
  const disk = new Uint8Array(64 * MiB);
  await writeGpt({ write: (o, b) => Promise.resolve(disk.set(b, o)) }, plan);
  const t = await parseGpt(memoryDisk(disk), 4096);
  assert.equal(t.partitions[0].offsetBytes, MiB);
  assert.equal(t.partitions[0].sizeBytes, 32 * MiB);
  assert.equal(t.partitions[0].name, "MetropolisInstaller");
});

Deno.test("partitions that do not fit the disk are refused before anything is written", () => {
  assert.throws(() => nodeDisk(2000), /does not fit/);
  assert.throws(
    () =>
      planGpt({
        diskSizeBytes: 64 * MiB,
        diskGuid: g(0),
        partitions: [
          { name: "rest", type: PARTITION_TYPES.data, guid: g(1), sizeBytes: 0 },
          { name: "after", type: PARTITION_TYPES.data, guid: g(2), sizeBytes: MiB },
        ],
      }),
    /only the last partition/,
  );
});
