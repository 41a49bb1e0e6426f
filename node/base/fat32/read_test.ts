/**
 * Tier-1 tests of the FAT32 reader: filesystems from our writer and from mkfs.vfat + mtools (an
 * independent writer that fragments files when asked to), read back file by file; damaged ones
 * are refused with a Fat32Error instead of being trusted.
 */
import assert from "node:assert/strict";
import { fileDisk, memoryDisk } from "../blockdev/gpt.ts";
import { Fat32Error, Fat32Reader, FatDir, parseDirectory, writeFat32 } from "./mod.ts";
import { runTool } from "./tool_testing.ts";

const MiB = 1024 * 1024;

async function written(root: FatDir, size = 40 * MiB): Promise<Uint8Array> {
  const img = new Uint8Array(size);
  await writeFat32({ write: (o, b) => Promise.resolve(img.set(b, o)) }, root, {
    sizeBytes: size,
    label: "MNGN_BOOT",
    volumeId: 0x1234,
  });
  return img;
}

const random = (n: number) => {
  const b = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) crypto.getRandomValues(b.subarray(o, o + 65536));
  return b;
};

Deno.test("our writer's filesystem: every file by path, case-insensitive; absent → undefined", async () => {
  const big = random(3 * 4096 + 17);
  const root = new FatDir()
    .file("EFI/BOOT/BOOTX64.EFI", new Uint8Array([1, 2, 3]))
    .file("metropolis/sealed_configuration.pb", big)
    .file("metropolis/empty", new Uint8Array())
    .file("Mixed Case Name.txt", new TextEncoder().encode("hello"));
  const fs = await Fat32Reader.open(memoryDisk(await written(root)));
  assert.deepEqual(await fs.readFile("EFI/BOOT/BOOTX64.EFI"), new Uint8Array([1, 2, 3]));
  assert.deepEqual(await fs.readFile("efi/boot/bootx64.efi"), new Uint8Array([1, 2, 3]));
  assert.deepEqual(await fs.readFile("metropolis/sealed_configuration.pb"), big);
  assert.deepEqual(await fs.readFile("metropolis/empty"), new Uint8Array());
  assert.equal(new TextDecoder().decode(await fs.readFile("mixed case name.TXT")), "hello");
  assert.deepEqual((await fs.list()).map((e) => e.name).sort(), [
    "EFI",
    "Mixed Case Name.txt",
    "metropolis",
  ]);
  assert.equal(await fs.readFile("metropolis/parameters.pb"), undefined);
  assert.equal(await fs.readFile("nothere/x"), undefined);
  assert.equal(await fs.readFile("EFI/BOOT/BOOTX64.EFI/x"), undefined);
  await assert.rejects(fs.readFile("EFI/BOOT"), Fat32Error);
});

async function tool(cmd: string, args: string[]): Promise<string> {
  return (await runTool(cmd, args)).text;
}

Deno.test("mkfs.vfat + mtools: a fragmented file and 8.3 names read back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fat32-read-" });
  try {
    const img = `${dir}/fs.img`;
    await tool("mkfs.vfat", ["-F", "32", "-s", "1", "-C", img, String(40 * 1024)]);
    const a = random(5 * 512);
    const b = random(700);
    const c = random(11 * 512 + 3);
    await Deno.writeFile(`${dir}/a`, a);
    await Deno.writeFile(`${dir}/b`, b);
    await Deno.writeFile(`${dir}/c`, c);
    await tool("mmd", ["-i", img, "::metropolis"]);
    await tool("mcopy", ["-i", img, `${dir}/a`, "::metropolis/a.bin"]);
    await tool("mcopy", ["-i", img, `${dir}/b`, "::metropolis/KEEP.BIN"]);
    // A filler leaves 10 free clusters at the end and freeing a.bin a 5-cluster hole before b:
    // c (12 clusters) only fits as the hole plus the end.
    const free = Number(/([\d ]+) bytes free/.exec(await tool("mdir", ["-i", img, "::"]))![1]
      .replaceAll(" ", ""));
    using filler = await Deno.open(`${dir}/filler`, { create: true, write: true });
    await filler.truncate(free - 10 * 512);
    await tool("mcopy", ["-i", img, `${dir}/filler`, "::filler"]);
    await tool("mdel", ["-i", img, "::metropolis/a.bin"]);
    await tool("mcopy", ["-i", img, `${dir}/c`, "::metropolis/sealed_configuration.pb"]);
    using f = await Deno.open(img);
    const size = (await f.stat()).size;
    const fs = await Fat32Reader.open(fileDisk(f, img, { offset: 0, size }));
    // c's cluster chain really is in two pieces.
    const dirCluster = (await fs.list()).find((e) => e.name === "metropolis")!.firstCluster;
    const entry = (await fs.list(dirCluster)).find((e) => e.name === "sealed_configuration.pb")!;
    const fat = new DataView((await Deno.readFile(img)).buffer, fs.geometry.fatOffset);
    let jumps = 0;
    for (let k = entry.firstCluster; k < 0x0ffffff8; k = fat.getUint32(k * 4, true) & 0x0fffffff) {
      const next = fat.getUint32(k * 4, true) & 0x0fffffff;
      if (next < 0x0ffffff8 && next !== k + 1) jumps++;
    }
    assert.ok(jumps >= 1, "c is fragmented");
    assert.deepEqual(await fs.readFile("metropolis/sealed_configuration.pb"), c);
    assert.deepEqual(await fs.readFile("METROPOLIS/keep.bin"), b);
    assert.equal(await fs.readFile("metropolis/a.bin"), undefined, "deleted entries are skipped");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("damage is refused: no boot sector, a looping or out-of-range chain", async () => {
  await assert.rejects(Fat32Reader.open(memoryDisk(new Uint8Array(40 * MiB))), Fat32Error);
  const img = await written(new FatDir().file("f", random(3 * 4096)));
  const fs = await Fat32Reader.open(memoryDisk(img));
  const [e] = await fs.list();
  const fat = fs.geometry.fatOffset;
  const view = new DataView(img.buffer);
  // The file's last cluster points back at its first: a loop.
  view.setUint32(fat + (e.firstCluster + 2) * 4, e.firstCluster, true);
  await assert.rejects(
    (await Fat32Reader.open(memoryDisk(img))).readFile("f"),
    /chain longer than/,
  );
  view.setUint32(fat + (e.firstCluster + 2) * 4, 0x0fffff00, true);
  await assert.rejects((await Fat32Reader.open(memoryDisk(img))).readFile("f"), /out of range/);
});

Deno.test("directory entries: NT lower-case flags of 8.3 names, labels and dot entries skipped", () => {
  const entry = (name: string, attr: number, nt = 0) => {
    const e = new Uint8Array(32);
    e.set(new TextEncoder().encode(name.padEnd(11, " ")), 0);
    e[11] = attr;
    e[12] = nt;
    return e;
  };
  const bytes = new Uint8Array(32 * 5);
  bytes.set(entry("MNGN_BOOT", 0x08), 0);
  bytes.set(entry(".", 0x10), 32);
  bytes.set(entry("BOOT    EFI", 0x20, 0x08 | 0x10), 64);
  bytes.set(entry("DATA", 0x10, 0x08), 96);
  assert.deepEqual(parseDirectory(bytes).map((e) => [e.name, e.directory]), [
    ["boot.efi", false],
    ["data", true],
  ]);
});
