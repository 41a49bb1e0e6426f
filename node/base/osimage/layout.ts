/**
 * The node disk and the installer medium (the OS-image contract, part 1): partition names,
 * type GUIDs and sizes, the FAT labels, and the smallest disk an installer may target. The image
 * builder, the launcher, metroctl's genusb, the installer and the update service all read these
 * definitions, so a disk one of them writes is always one the others recognise.
 *
 * Node disk (GPT, protective MBR, 128 entries, partitions 1 MiB aligned):
 *
 * | # | name | type | installer | launcher |
 * |---|---|---|---|---|
 * | 1 | `ESP` | EFI System, FAT32 `MNGN_BOOT` | 384 MiB | 128 MiB |
 * | 2 | `METROPOLIS-SYSTEM-A` | system A | 4096 MiB | 1024 MiB |
 * | 3 | `METROPOLIS-SYSTEM-B` | system B | 4096 MiB | 1024 MiB |
 * | 4 | `METROPOLIS-NODE-DATA` | data | rest, ≥ 128 MiB | rest |
 * @module
 */
import { PARTITION_TYPES, type PartitionRole } from "../blockdev/parttypes.ts";

export { PARTITION_TYPES, type PartitionRole };

/** One MiB in bytes. */
export const MiB = 1024 * 1024;

/** GPT partition names of the node disk, by role. */
export const PARTITION_NAMES: Readonly<Record<PartitionRole, string>> = Object.freeze({
  esp: "ESP",
  systemA: "METROPOLIS-SYSTEM-A",
  systemB: "METROPOLIS-SYSTEM-B",
  data: "METROPOLIS-NODE-DATA",
});

/** FAT32 volume label of the node ESP. */
export const ESP_LABEL = "MNGN_BOOT";

/** Smallest data partition the installer accepts. */
export const MIN_DATA_MiB = 128;

/** One GPT partition of a node disk. */
export interface PartitionSpec {
  /** What the partition is for. */
  role: PartitionRole;
  /** GPT partition name. */
  name: string;
  /** Partition type GUID. */
  type: string;
  /** Size in MiB; 0 = the rest of the disk. */
  sizeMiB: number;
}

/** Which size column: disks the launcher writes, or disks the installer writes. */
export type DiskKind = "launcher" | "installer";

/** The partition table of a node disk, in GPT entry order. */
export function nodePartitions(kind: DiskKind): PartitionSpec[] {
  const l = kind === "launcher";
  const p = (role: PartitionRole, sizeMiB: number): PartitionSpec => ({
    role,
    name: PARTITION_NAMES[role],
    type: PARTITION_TYPES[role],
    sizeMiB,
  });
  return [
    p("esp", l ? 128 : 384),
    p("systemA", l ? 1024 : 4096),
    p("systemB", l ? 1024 : 4096),
    p("data", 0),
  ];
}

/**
 * Smallest disk (MiB) of `kind`: the fixed partitions, {@link MIN_DATA_MiB} of data and 1 MiB
 * for the GPT structures (installer: 384 + 2 × 4096 + 128 + 1 = 8705 MiB).
 */
export function minimumDiskMiB(kind: DiskKind): number {
  return nodePartitions(kind).reduce((s, p) => s + p.sizeMiB, 0) + MIN_DATA_MiB + 1;
}

/**
 * The installer medium `metroctl install genusb` writes: GPT with one EFI System partition
 * `MetropolisInstaller` at 1 MiB, 512 MiB, FAT32 `METRO_INST`. An image-file target is
 * 1 MiB + 512 MiB + 1 MiB (backup GPT) = 538,968,064 bytes.
 */
export const INSTALLER_MEDIUM = Object.freeze({
  partitionName: "MetropolisInstaller",
  label: "METRO_INST",
  offsetBytes: MiB,
  sizeMiB: 512,
  imageBytes: 538_968_064,
});
