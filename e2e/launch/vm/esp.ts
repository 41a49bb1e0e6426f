/**
 * Files on the ESP inside a VM node's disk image, read from the host without mounting (the host
 * kernel has no vfat): the ESP is found by its partition type GUID in the GPT and its files are
 * read by the project's FAT32 reader (node/base/blockdev, node/base/fat32 — the same code the
 * node and metroctl use for their disks). The launcher uses it to check a kept VM cluster
 * (`--keep-state`: every node has its sealed configuration) and tests use it to look at what a
 * node wrote.
 * @module
 */
import {
  fileDisk,
  findPartition,
  PARTITION_TYPES,
  readGpt,
} from "../../../node/base/blockdev/mod.ts";
import { Fat32Reader } from "../../../node/base/fat32/mod.ts";

/** The ESP of `disk` (a raw image) as a byte range; throws when the disk has none. */
export async function espRange(disk: string): Promise<{ offset: number; size: number }> {
  const esp = findPartition(await readGpt(disk, 512), PARTITION_TYPES.esp);
  if (!esp) throw new Error(`${disk}: no EFI system partition in the GPT`);
  return { offset: esp.offsetBytes, size: esp.sizeBytes };
}

/** Byte offset of the ESP in `disk`; throws when the disk has none. */
export async function espOffset(disk: string): Promise<number> {
  return (await espRange(disk)).offset;
}

/** `rel` (e.g. `metropolis/sealed_configuration.pb`) from the ESP of `disk`; undefined if absent. */
export async function readEspFile(disk: string, rel: string): Promise<Uint8Array | undefined> {
  const range = await espRange(disk);
  using f = await Deno.open(disk, { read: true });
  const fs = await Fat32Reader.open(fileDisk(f, `${disk} (ESP)`, range));
  return await fs.readFile(rel);
}
