/**
 * The A/B slot partitions of a boot disk are found by GPT type on a real table (written by
 * node/base/blockdev's GPT writer with the node layout); missing or doubled slots are errors.
 */
import assert from "node:assert/strict";
import { type DiskReader, parseGpt } from "../../base/blockdev/gpt.ts";
import { writeGpt } from "../../base/blockdev/gpt_write.ts";
import { nodeDiskPlan } from "../../base/osimage/nodedisk.ts";
import { slotPartitions } from "./vm_slots.ts";

const MiB = 1024 * 1024;
const g = (n: number) => `aaaaaaaa-0000-4000-8000-${n.toString().padStart(12, "0")}`;

async function table() {
  const plan = nodeDiskPlan("launcher", 2400 * MiB, {
    disk: g(0),
    partitions: { esp: g(1), systemA: g(2), systemB: g(3), data: g(4) },
  });
  // A sparse disk: only the written regions hold bytes.
  const regions: Array<[number, Uint8Array]> = [];
  await writeGpt({ write: (o, b) => Promise.resolve(void regions.push([o, b.slice()])) }, plan);
  const disk: DiskReader = {
    size: 2400 * MiB,
    read(offset, length) {
      const out = new Uint8Array(length);
      for (const [o, b] of regions) {
        const from = Math.max(o, offset);
        const to = Math.min(o + b.length, offset + length);
        if (from < to) out.set(b.subarray(from - o, to - o), from - offset);
      }
      return Promise.resolve(out);
    },
  };
  return await parseGpt(disk, 512);
}

Deno.test("slots and the ESP are found by partition type with their kernel devices", async () => {
  const t = await table();
  const s = slotPartitions({
    name: "vda",
    table: t,
    partitions: new Map([[1, "vda1"], [2, "vda2"], [3, "vda3"], [4, "vda4"]]),
  });
  assert.deepEqual(s.system, { a: "/dev/vda2", b: "/dev/vda3" });
  assert.deepEqual(s.esp, { number: 1, startLba: 2048n, sizeLba: 262144n, guid: g(1) });
});

Deno.test("a disk without slot B or with an unreadable table is an error naming the disk", async () => {
  const t = await table();
  const noB = { ...t, partitions: t.partitions.filter((p) => p.index !== 3) };
  assert.throws(
    () =>
      slotPartitions({ name: "vda", table: noB, partitions: new Map([[1, "vda1"], [2, "vda2"]]) }),
    /boot disk vda: 0 system B partitions/,
  );
  assert.throws(
    () => slotPartitions({ name: "vdb", table: { error: "no GPT" }, partitions: new Map() }),
    /boot disk vdb: no GPT/,
  );
});
