/**
 * The node disk layout (image.md §7): partition names, type GUIDs and sizes.
 * @module
 */

/** One GPT partition of a node disk. */
export interface PartitionSpec {
  /** GPT partition name. */
  name: string;
  /** Partition type GUID. */
  type: string;
  /** Size in MiB; 0 = the rest of the disk. */
  sizeMiB: number;
}

/** GPT partition type GUIDs of image.md §7. */
export const TYPE_GUIDS = {
  esp: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
  systemA: "ee96054b-f6d0-4267-aaaa-724b2afea74c",
  systemB: "ee96054b-f6d0-4267-bbbb-724b2afea74c",
  data: "9eeec464-6885-414a-b278-4305c51f7966",
} as const;

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
