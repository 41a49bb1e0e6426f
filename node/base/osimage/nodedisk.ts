/**
 * Writing a node disk (launcher and installer): the GPT of {@link nodePartitions}, the ESP
 * (FAT32 `MNGN_BOOT`) with the slot A UKI at the default boot path and as
 * `EFI/metropolis/boot-a.efi` (plus `boot-b.efi` when given) and the node parameters, and the
 * system image in slot A. The plan is pure ({@link nodeDiskPlan}); {@link writeNodeDisk} is the
 * thin executor over a {@link DiskWriter}.
 * @module
 */
import {
  type DiskWriter,
  fileWriter,
  type GptPlan,
  planGpt,
  writeGpt,
} from "../blockdev/gpt_write.ts";
import { FatDir, type FatSource, writeFat32 } from "../fat32/fat32.ts";
import { type DiskKind, ESP_LABEL, MiB, minimumDiskMiB, nodePartitions } from "./layout.ts";
import { ESP_PATHS, slotUkiPath } from "./slots.ts";
import type { PartitionRole } from "../blockdev/parttypes.ts";

/** GUIDs of a node disk: the disk and each partition. */
export interface NodeDiskGuids {
  disk: string;
  partitions: Record<PartitionRole, string>;
}

/** The GPT of a node disk of `sizeBytes`. */
export function nodeDiskPlan(kind: DiskKind, sizeBytes: number, guids: NodeDiskGuids): GptPlan {
  return planGpt({
    diskSizeBytes: sizeBytes,
    diskGuid: guids.disk,
    partitions: nodePartitions(kind).map((p) => ({
      name: p.name,
      type: p.type,
      guid: guids.partitions[p.role],
      sizeBytes: p.sizeMiB * MiB,
    })),
  });
}

/** A system image streamed from elsewhere (the installer: verified payload chunks). */
export interface SystemStream {
  size: number;
  open(): Promise<AsyncIterable<Uint8Array>>;
}

/** What goes onto a node disk. */
export interface NodeDiskContents {
  kind: DiskKind;
  sizeBytes: number;
  guids: NodeDiskGuids;
  /** Signed UKI of slot A. */
  ukiA: FatSource;
  /** Signed UKI of slot B (the installer copies it; the launcher leaves slot B empty). */
  ukiB?: FatSource;
  /** The slot A system image: a path, or a stream of known size (e.g. verified chunks). */
  system: string | SystemStream;
  /** NodeParameters for `metropolis/parameters.pb`. */
  parameters?: FatSource;
  /** ESP volume serial. */
  espVolumeId: number;
  onProgress?: (done: number, total: number) => void;
}

/** The ESP tree of a new node disk. */
export function espTree(c: Pick<NodeDiskContents, "ukiA" | "ukiB" | "parameters">): FatDir {
  const root = new FatDir()
    .file(ESP_PATHS.defaultBoot, c.ukiA)
    .file(slotUkiPath("a"), c.ukiA);
  if (c.ukiB) root.file(slotUkiPath("b"), c.ukiB);
  if (c.parameters) root.file(ESP_PATHS.parameters, c.parameters);
  return root;
}

/** Writes the whole node disk through `w`; checks sizes before writing anything. */
export async function writeNodeDisk(w: DiskWriter, c: NodeDiskContents): Promise<GptPlan> {
  const min = minimumDiskMiB(c.kind);
  if (c.sizeBytes < min * MiB) {
    throw new RangeError(
      `disk of ${Math.floor(c.sizeBytes / MiB)} MiB is too small (need ≥ ${min} MiB)`,
    );
  }
  const plan = nodeDiskPlan(c.kind, c.sizeBytes, c.guids);
  const [esp, slotA] = plan.partitions;
  const slotBytes = (slotA.lastLba - slotA.firstLba + 1) * plan.sectorSize;
  const sys = typeof c.system === "string" ? (await Deno.stat(c.system)).size : c.system.size;
  if (sys > slotBytes) {
    throw new RangeError(`system image (${sys} bytes) exceeds slot A (${slotBytes} bytes)`);
  }
  await writeGpt(w, plan);
  const at = (base: number): DiskWriter => ({ write: (o, b) => w.write(base + o, b) });
  await writeFat32(at(esp.offsetBytes), espTree(c), {
    sizeBytes: (esp.lastLba - esp.firstLba + 1) * plan.sectorSize,
    label: ESP_LABEL,
    volumeId: c.espVolumeId,
    hiddenSectors: esp.firstLba,
    onProgress: c.onProgress,
  });
  const src = typeof c.system === "string"
    ? (await Deno.open(c.system)).readable
    : await c.system.open();
  let off = 0;
  for await (const chunk of src) {
    await w.write(slotA.offsetBytes + off, chunk);
    off += chunk.length;
  }
  if (off !== sys) throw new Error(`system image: wrote ${off} of ${sys} bytes`);
  return plan;
}

/** {@link writeNodeDisk} onto the file or block device `path` (a file is sized first). */
export async function writeNodeDiskTo(path: string, c: NodeDiskContents): Promise<GptPlan> {
  const f = await Deno.open(path, { write: true, read: true });
  try {
    if ((await f.stat()).isFile) await f.truncate(c.sizeBytes);
    const plan = await writeNodeDisk(fileWriter(f), c);
    await f.syncData();
    return plan;
  } finally {
    f.close();
  }
}
