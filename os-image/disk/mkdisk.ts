/**
 * Writes a launcher node disk image (image.md §7) with the OS-image contract's node disk writer
 * (`node/base/osimage/nodedisk.ts`: GPT and FAT32 in TypeScript): the partitions of
 * `nodePartitions("launcher")`, a FAT32 ESP holding the UKI at the default boot path and as
 * `EFI/metropolis/boot-a.efi` plus the node parameters, and `system.img` in slot A.
 * @module
 */
import { sha256Hex } from "../lib/hash.ts";
import { writeNodeDiskTo } from "../../node/base/osimage/nodedisk.ts";

/** Inputs of {@link mkdisk}. */
export interface DiskInput {
  /** Signed UKI of slot A: becomes `EFI/BOOT/BOOTX64.EFI` and `EFI/metropolis/boot-a.efi`. */
  ukiA: string;
  /** Slot A system image (erofs + verity). */
  system: string;
  /** Optional `metropolis/parameters.pb` (NodeParameters). */
  parameters?: string;
  /** Disk size in MiB (default 5120). */
  sizeMiB?: number;
  /** Seed for the deterministic disk/partition GUIDs (default: the disk path). */
  seed?: string;
}

const MiB = 1024 * 1024;

function guidFrom(seed: string): string {
  const h = sha256Hex(seed);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${
    h.slice(20, 32)
  }`;
}

/** Writes the disk image `out`; `work` is a scratch directory (kept for compatibility). */
export async function mkdisk(input: DiskInput, out: string, work: string): Promise<void> {
  const size = input.sizeMiB ?? 5120;
  await Deno.mkdir(work, { recursive: true });
  const seed = input.seed ?? out;
  await Deno.remove(out).catch(() => {});
  await Deno.writeFile(out, new Uint8Array(0));
  try {
    await writeNodeDiskTo(out, {
      kind: "launcher",
      sizeBytes: size * MiB,
      guids: {
        disk: guidFrom(seed + ":disk"),
        partitions: {
          esp: guidFrom(`${seed}:ESP`),
          systemA: guidFrom(`${seed}:METROPOLIS-SYSTEM-A`),
          systemB: guidFrom(`${seed}:METROPOLIS-SYSTEM-B`),
          data: guidFrom(`${seed}:METROPOLIS-NODE-DATA`),
        },
      },
      ukiA: { path: input.ukiA },
      system: input.system,
      parameters: input.parameters ? { path: input.parameters } : undefined,
      espVolumeId: parseInt(sha256Hex(seed + ":esp").slice(0, 8), 16),
    });
  } catch (e) {
    await Deno.remove(out).catch(() => {});
    throw new Error(`mkdisk: ${(e as Error).message}`);
  }
}

if (import.meta.main) {
  const [ukiA, system, out, parameters] = Deno.args;
  if (!ukiA || !system || !out) {
    console.error("usage: mkdisk.ts <boot-a.efi> <system.img> <disk.img> [parameters.pb]");
    Deno.exit(2);
  }
  await mkdisk({ ukiA, system, parameters }, out, `${out}.work`);
  console.log(out);
}
