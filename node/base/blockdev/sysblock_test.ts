import assert from "node:assert/strict";
import { devString, listDisks, slavesOf } from "./sysblock.ts";

/** Writes `files` (path → content) below a new temporary directory shaped like sysfs. */
async function fakeSys(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "sysblock-test-" });
  for (const [p, content] of Object.entries(files)) {
    const full = `${root}/${p}`;
    await Deno.mkdir(full.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(full, content);
  }
  return root;
}

function disk(name: string, dev: string, parts: [string, number, string, number, number][]) {
  const f: Record<string, string> = {
    [`block/${name}/dev`]: `${dev}\n`,
    [`block/${name}/size`]: "10485760\n",
    [`block/${name}/queue/logical_block_size`]: "512\n",
    [`block/${name}/removable`]: "0\n",
  };
  for (const [p, n, d, start, size] of parts) {
    f[`block/${name}/${p}/partition`] = `${n}\n`;
    f[`block/${name}/${p}/dev`] = `${d}\n`;
    f[`block/${name}/${p}/start`] = `${start}\n`;
    f[`block/${name}/${p}/size`] = `${size}\n`;
  }
  return f;
}

Deno.test("listDisks: disks with partitions, partitions in number order, others left out", async () => {
  const sys = await fakeSys({
    ...disk("vda", "252:0", [
      ["vda10", 10, "252:10", 9000, 10],
      ["vda1", 1, "252:1", 2048, 262144],
    ]),
    // A device-mapper device and a loop device: no partition subdirectories.
    "block/dm-0/dev": "253:0\n",
    "block/dm-0/size": "100\n",
    "block/dm-0/slaves/vda2/dev": "252:2\n",
    "block/loop0/dev": "7:0\n",
    "block/loop0/size": "0\n",
  });
  try {
    const disks = listDisks(sys);
    assert.equal(disks.length, 1);
    assert.deepEqual(disks[0], {
      name: "vda",
      dev: "252:0",
      size: 10485760,
      logicalBlockSize: 512,
      partitions: [
        { name: "vda1", number: 1, dev: "252:1", start: 2048, size: 262144 },
        { name: "vda10", number: 10, dev: "252:10", start: 9000, size: 10 },
      ],
    });
  } finally {
    await Deno.remove(sys, { recursive: true });
  }
});

Deno.test("listDisks: a malformed sysfs value is an error naming the file", async () => {
  const sys = await fakeSys(disk("vda", "252:0", [["vda1", 1, "banana", 2048, 1]]));
  try {
    assert.throws(() => listDisks(sys), /vda1\/dev: "banana" is not major:minor/);
  } finally {
    await Deno.remove(sys, { recursive: true });
  }
});

Deno.test("slavesOf: names below /sys/dev/block/<dev>/slaves, none for an unknown device", async () => {
  const sys = await fakeSys({ "dev/block/253:0/slaves/vda2/dev": "252:2\n" });
  try {
    assert.deepEqual(slavesOf("253:0", sys), ["vda2"]);
    assert.deepEqual(slavesOf("253:9", sys), []);
  } finally {
    await Deno.remove(sys, { recursive: true });
  }
});

Deno.test("devString: glibc's major/minor split of st_dev, also for large numbers", () => {
  assert.equal(devString(0xfc04), "252:4");
  assert.equal(devString(0x0803), "8:3");
  // major 259 (blkext), minor 300: minor's high bits live above bit 20.
  assert.equal(devString((259 << 8) | (300 & 0xff) | ((300 & ~0xff) << 12)), "259:300");
  assert.equal(devString(BigInt(Deno.statSync("/").dev)), devString(Deno.statSync("/").dev));
});

Deno.test("listDisks on this host's /sys: every disk listed has consistent partitions", () => {
  for (const d of listDisks()) {
    assert.ok(d.partitions.length > 0, d.name);
    assert.ok([512, 4096].includes(d.logicalBlockSize), `${d.name} block size`);
    for (const p of d.partitions) assert.ok(p.start + p.size <= d.size, p.name);
  }
});
