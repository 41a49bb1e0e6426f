/**
 * mkdisk writes a launcher disk that independent tools accept: `sgdisk --verify` for the GPT,
 * `fsck.vfat -n` and mtools for the ESP, and the system image byte for byte in slot A.
 */
import assert from "node:assert/strict";
import { readGpt } from "../../node/base/blockdev/gpt.ts";
import { mkdisk } from "./mkdisk.ts";
import { runTool } from "../../node/base/fat32/tool_testing.ts";

const MiB = 1024 * 1024;

async function tool(cmd: string, args: string[]): Promise<Uint8Array> {
  return (await runTool(cmd, args)).stdout;
}
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
  using f = await Deno.open(path);
  await f.seek(offset, Deno.SeekMode.Start);
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) got += (await f.read(buf.subarray(got))) ?? length;
  return buf;
}

Deno.test("mkdisk: GPT verifies, the ESP passes fsck and holds the UKI and parameters, slot A holds system.img", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const uki = new Uint8Array(2 * MiB + 7).map((_, i) => i & 0xff);
    const system = new Uint8Array(3 * MiB).map((_, i) => (i * 13) & 0xff);
    await Deno.writeFile(`${dir}/boot-a.efi`, uki);
    await Deno.writeFile(`${dir}/system.img`, system);
    await Deno.writeTextFile(`${dir}/params.pb`, "nodeparams");
    const out = `${dir}/disk.img`;
    await mkdisk(
      {
        ukiA: `${dir}/boot-a.efi`,
        system: `${dir}/system.img`,
        parameters: `${dir}/params.pb`,
        sizeMiB: 2400,
        seed: "x",
      },
      out,
      `${dir}/work`,
    );
    assert.match(text(await tool("sgdisk", ["--verify", out])), /No problems found/);
    const t = await readGpt(out, 512);
    assert.deepEqual(t.partitions.map((p) => p.name), [
      "ESP",
      "METROPOLIS-SYSTEM-A",
      "METROPOLIS-SYSTEM-B",
      "METROPOLIS-NODE-DATA",
    ]);
    const [esp, a] = t.partitions;
    const espImg = `${dir}/esp.img`;
    await Deno.writeFile(espImg, await readRange(out, esp.offsetBytes, esp.sizeBytes));
    await tool("fsck.vfat", ["-n", espImg]);
    assert.match(text(await tool("mdir", ["-i", espImg, "::"])), /MNGN_BOOT/);
    assert.deepEqual(await tool("mtype", ["-i", espImg, "::EFI/BOOT/BOOTX64.EFI"]), uki);
    assert.deepEqual(await tool("mtype", ["-i", espImg, "::EFI/metropolis/boot-a.efi"]), uki);
    assert.equal(
      text(await tool("mtype", ["-i", espImg, "::metropolis/parameters.pb"])),
      "nodeparams",
    );
    assert.deepEqual(await readRange(out, a.offsetBytes, system.length), system);
    // Same seed, same GUIDs.
    assert.equal(t.diskGuid, (await readGpt(out, 512)).diskGuid);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mkdisk refuses a disk too small for the layout and a system image larger than a slot", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/uki`, new Uint8Array(10));
    await Deno.writeFile(`${dir}/sys`, new Uint8Array(10));
    await assert.rejects(
      () =>
        mkdisk({ ukiA: `${dir}/uki`, system: `${dir}/sys`, sizeMiB: 2000 }, `${dir}/d`, `${dir}/w`),
      /mkdisk: disk of 2000 MiB is too small \(need ≥ 2305 MiB\)/,
    );
    {
      using f = await Deno.open(`${dir}/sys`, { write: true });
      await f.truncate(1025 * MiB);
    }
    await assert.rejects(
      () =>
        mkdisk({ ukiA: `${dir}/uki`, system: `${dir}/sys`, sizeMiB: 2400 }, `${dir}/d`, `${dir}/w`),
      /exceeds slot A/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
