/**
 * Tier-1 tests of the FAT32 writer: filesystems written to sparse temp files are checked by
 * `fsck.vfat -n` and read back with mtools (independent implementations).
 */
import assert from "node:assert/strict";
import { fileWriter } from "../blockdev/gpt_write.ts";
import { addHostTree, fat32Geometry, fat32Label, FatDir, writeFat32 } from "./mod.ts";
import { runTool } from "./tool_testing.ts";

const MiB = 1024 * 1024;

async function tool(cmd: string, args: string[]): Promise<string> {
  return ((r) => r.text + r.stderr)(await runTool(cmd, args));
}

async function mtype(img: string, path: string): Promise<Uint8Array> {
  const out = await new Deno.Command("mtype", {
    args: ["-i", img, `::${path}`],
    stdout: "piped",
    stderr: "piped",
    env: { MTOOLS_SKIP_CHECK: "1" },
  }).output();
  if (!out.success) throw new Error(`mtype ${path}: ${new TextDecoder().decode(out.stderr)}`);
  return out.stdout;
}

async function build(img: string, sizeBytes: number, root: FatDir, label = "MNGN_BOOT") {
  using f = await Deno.open(img, { write: true, create: true, truncate: true });
  await f.truncate(sizeBytes);
  await writeFat32(fileWriter(f), root, { sizeBytes, label, volumeId: 0x1234abcd });
}

Deno.test("an ESP with long and short names passes fsck.vfat and reads back with mtools", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const uki = new Uint8Array(3 * MiB + 123).map((_, i) => (i * 31) & 0xff);
    await Deno.writeFile(`${dir}/uki`, uki);
    const root = new FatDir()
      .file("EFI/BOOT/BOOTX64.EFI", { path: `${dir}/uki` })
      .file("EFI/metropolis/boot-a.efi", { path: `${dir}/uki` })
      .file("metropolis/parameters.pb", new TextEncoder().encode("params"))
      .file("metropolis/empty", new Uint8Array(0))
      .file("a-name-exactly-26-chars.xy", new Uint8Array([1]));
    // Enough entries to need several directory clusters (512-byte clusters on 128 MiB).
    for (let i = 0; i < 40; i++) root.file(`many/${"f".repeat(30)}-${i}.json`, new Uint8Array([i]));
    const img = `${dir}/esp.img`;
    await build(img, 128 * MiB, root);
    assert.match(await tool("fsck.vfat", ["-n", img]), /esp.img: \d+ files, \d+\/\d+ clusters/);
    assert.deepEqual(await mtype(img, "EFI/BOOT/BOOTX64.EFI"), uki);
    assert.deepEqual(await mtype(img, "EFI/metropolis/boot-a.efi"), uki);
    assert.equal(new TextDecoder().decode(await mtype(img, "metropolis/parameters.pb")), "params");
    assert.equal((await mtype(img, "many/" + "f".repeat(30) + "-39.json"))[0], 39);
    const listing = await tool("mdir", ["-i", img, "-/", "::"]);
    assert.match(listing, /MNGN_BOOT/);
    assert.match(listing, /boot-a\.efi/);
    assert.match(listing, /a-name-exactly-26-chars\.xy/);
    assert.match(await tool("mdir", ["-i", img, "::metropolis"]), /parameters\.pb/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the same tree gives byte-identical filesystems", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/tree/blobs/sha256`, { recursive: true });
    await Deno.writeTextFile(`${dir}/tree/index.json`, "{}");
    await Deno.writeTextFile(`${dir}/tree/blobs/sha256/${"ab".repeat(32)}`, "blob");
    const mk = async (img: string) => {
      const root = new FatDir();
      await addHostTree(root, "metropolis-installer/osimage", `${dir}/tree`);
      await build(img, 64 * MiB, root, "METRO_INST");
    };
    await mk(`${dir}/1.img`);
    await mk(`${dir}/2.img`);
    assert.deepEqual(await Deno.readFile(`${dir}/1.img`), await Deno.readFile(`${dir}/2.img`));
    await tool("fsck.vfat", ["-n", `${dir}/1.img`]);
    assert.equal(
      new TextDecoder().decode(
        await mtype(`${dir}/1.img`, `metropolis-installer/osimage/blobs/sha256/${"ab".repeat(32)}`),
      ),
      "blob",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("geometry keeps FAT32's 65525-cluster minimum; files that do not fit are refused", async () => {
  assert.equal(fat32Geometry(128 * MiB).sectorsPerCluster, 2);
  assert.equal(fat32Geometry(384 * MiB).sectorsPerCluster, 8);
  assert.equal(fat32Geometry(512 * MiB).sectorsPerCluster, 8);
  assert.throws(() => fat32Geometry(16 * MiB), /too small/);
  const writes: number[] = [];
  await assert.rejects(
    () =>
      writeFat32(
        { write: (o) => Promise.resolve(void writes.push(o)) },
        new FatDir().file("big", new Uint8Array(40 * MiB)),
        { sizeBytes: 36 * MiB, label: "X", volumeId: 1 },
      ),
    /do not fit/,
  );
  assert.deepEqual(writes, [], "nothing was written");
});

Deno.test("the volume label is read back from a written boot sector; other sectors have none", async () => {
  const sectors = new Map<number, Uint8Array>();
  await writeFat32(
    { write: (o, b) => Promise.resolve(void sectors.set(o, b.slice(0, 512))) },
    new FatDir(),
    { sizeBytes: 40 * MiB, label: "METRO_INST", volumeId: 7 },
  );
  assert.equal(fat32Label(sectors.get(0)!), "METRO_INST");
  assert.equal(fat32Label(new Uint8Array(512)), undefined);
});
