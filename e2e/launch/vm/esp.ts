/**
 * Files on the ESP inside a VM node's disk image, read from the host without mounting (the host
 * kernel has no vfat): the ESP is found by its partition type GUID in the GPT
 * (node/base/blockdev, the same code the node uses) and read with mtools at its byte offset
 * (`-i <disk>@@<offset>`). The launcher uses it to check a kept VM cluster (`--keep-state`: every
 * node has its sealed configuration) and tests use it to look at what a node wrote.
 * @module
 */
import { findPartition, PARTITION_TYPES, readGpt } from "../../../node/base/blockdev/mod.ts";

const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: "1" };

/** Byte offset of the ESP in `disk` (a raw image); throws when the disk has none. */
export async function espOffset(disk: string): Promise<number> {
  const esp = findPartition(await readGpt(disk, 512), PARTITION_TYPES.esp);
  if (!esp) throw new Error(`${disk}: no EFI system partition in the GPT`);
  return esp.offsetBytes;
}

/** The mtools image argument for the ESP of `disk`. */
export function mtoolsImage(disk: string, offset: number): string {
  return `${disk}@@${offset}`;
}

/** `rel` (e.g. `metropolis/sealed_configuration.pb`) from the ESP of `disk`; undefined if absent. */
export async function readEspFile(disk: string, rel: string): Promise<Uint8Array | undefined> {
  const img = mtoolsImage(disk, await espOffset(disk));
  const tmp = await Deno.makeTempFile({ prefix: "launch-esp-" });
  try {
    const out = await new Deno.Command("mcopy", {
      args: ["-n", "-o", "-i", img, `::${rel}`, tmp],
      env: MTOOLS_ENV,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim();
      if (/not found|No such file/i.test(err)) return undefined;
      throw new Error(`mcopy ${img} ::${rel}: ${err.split("\n")[0]}`);
    }
    return await Deno.readFile(tmp);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}
