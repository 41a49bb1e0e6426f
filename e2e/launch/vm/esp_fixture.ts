/**
 * Test fixtures for VM node disks: a real `mkdisk` disk with placeholder UKI and system image, and
 * writing a file onto its ESP the way a booted node would.
 * @module
 */
import { mkdisk } from "../../../os-image/disk/mkdisk.ts";
import { run } from "../exec.ts";
import { espOffset } from "./esp.ts";

/** A real node disk from mkdisk with placeholder UKI and system image (sparse, ≈ 2.3 GiB). */
export async function placeholderDisk(dir: string): Promise<string> {
  await Deno.writeFile(`${dir}/uki.efi`, new Uint8Array(4096).fill(0x4d));
  await Deno.writeFile(`${dir}/system.img`, new Uint8Array(8192).fill(0x53));
  const disk = `${dir}/disk.img`;
  await mkdisk(
    { ukiA: `${dir}/uki.efi`, system: `${dir}/system.img`, sizeMiB: 2400, seed: "esp-test" },
    disk,
    `${dir}/work`,
  );
  return disk;
}

/**
 * Copies host file `src` to `rel` on the ESP of `disk`, creating its directory like a node. mtools
 * here on purpose: a second FAT writer, allocating as it likes, that the FAT32 reader must follow.
 */
export async function writeEspFile(disk: string, rel: string, src: string): Promise<void> {
  const img = `${disk}@@${await espOffset(disk)}`;
  const parent = rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "";
  // mkdisk may have made the directory already.
  if (parent) await run("mmd", ["-i", img, `::${parent}`]).catch(() => {});
  await run("mcopy", ["-o", "-i", img, src, `::${rel}`]);
}
