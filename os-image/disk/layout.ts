/**
 * The node disk layout (image.md §7): partition names, type GUIDs and sizes.
 * @module
 */
import { PARTITION_TYPES } from "../../node/base/blockdev/parttypes.ts";

/** One GPT partition of a node disk. */
export interface PartitionSpec {
  /** GPT partition name. */
  name: string;
  /** Partition type GUID. */
  type: string;
  /** Size in MiB; 0 = the rest of the disk. */
  sizeMiB: number;
}

/**
 * GPT partition type GUIDs of image.md §7, defined once in `node/base/blockdev` so the node
 * finds exactly the partitions this builder writes.
 */
export const TYPE_GUIDS = PARTITION_TYPES;

/** FAT32 volume label of the node ESP. */
export const ESP_LABEL = "MNGN_BOOT";

/** The partition table of a node disk (launcher or installer sizes). */
export function nodePartitions(kind: "launcher" | "installer"): PartitionSpec[] {
  const l = kind === "launcher";
  return [
    { name: "ESP", type: TYPE_GUIDS.esp, sizeMiB: l ? 128 : 384 },
    { name: "METROPOLIS-SYSTEM-A", type: TYPE_GUIDS.systemA, sizeMiB: l ? 1024 : 4096 },
    { name: "METROPOLIS-SYSTEM-B", type: TYPE_GUIDS.systemB, sizeMiB: l ? 1024 : 4096 },
    { name: "METROPOLIS-NODE-DATA", type: TYPE_GUIDS.data, sizeMiB: 0 },
  ];
}
