/**
 * Which disk a VM / bare-metal node booted from, and its ESP and data partitions (node.md §3,
 * §8; image.md §7), as a pure decision over facts: vm_disk.ts gathers the facts (efivars, sysfs,
 * GPT) and mounts what this plan names.
 *
 * The boot disk, in order of preference:
 * 1. The disk holding the partition whose unique GUID the firmware loader reported in the EFI
 *    variable `LoaderDevicePartUUID` (systemd-stub sets it to the partition it was loaded from,
 *    i.e. our ESP, unless a boot loader before it already did). That partition must be an ESP.
 * 2. The disk under the dm-verity root device (`/` is `/dev/dm-0`; its `slaves/` name the system
 *    partition): what node.md §3 calls "the disk holding the dm-verity data device".
 * 3. The one disk carrying both an ESP and a data partition by GPT type.
 * When 1 and 2 are both known they must agree. Every ambiguity (two candidate disks, two ESPs,
 * two data partitions) is an error naming what was found, never a guess: mounting another
 * disk's data partition could format a disk that is not ours.
 * @module
 */
import type { GptTable } from "../../base/blockdev/gpt.ts";
import { PARTITION_TYPES } from "../../base/blockdev/parttypes.ts";
import { MS } from "../../base/sys/mount.ts";

/** systemd's loader vendor GUID: `LoaderDevicePartUUID-<this>` under efivarfs. */
export const LOADER_VENDOR_GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";
/** The efivarfs file of `LoaderDevicePartUUID`. */
export const LOADER_DEVICE_PART_UUID =
  `/sys/firmware/efi/efivars/LoaderDevicePartUUID-${LOADER_VENDOR_GUID}`;

/** One disk as seen by the agent. */
export interface DiskFacts {
  /** Kernel name (`vda`). */
  name: string;
  /** The GPT read from the disk, or why it could not be read (not every disk has one). */
  table: GptTable | { error: string };
  /** Partition number → kernel name (`4` → `vda4`), from sysfs. */
  partitions: Map<number, string>;
}

/** Everything the plan decides from. */
export interface BootDiskFacts {
  /** `LoaderDevicePartUUID` (lower case), when the variable exists. */
  loaderPartUuid?: string;
  /** Kernel name of the disk holding the root's dm-verity device, when `/` is a dm device. */
  rootDisk?: string;
  disks: DiskFacts[];
}

/** A partition the node uses. */
export interface PlannedPartition {
  /** `/dev/<kernel name>`. */
  device: string;
  /** GPT unique partition GUID. */
  guid: string;
  /** Size in bytes. */
  sizeBytes: number;
}

/** The decision. */
export interface BootDiskPlan {
  /** Kernel name of the boot disk. */
  disk: string;
  /** Why this disk (for the log line). */
  reason: string;
  esp: PlannedPartition;
  data: PlannedPartition;
}

/**
 * Decodes an efivarfs file of a string variable: 4 bytes of attributes, then UTF-16LE text,
 * usually NUL-terminated. Returns the GUID in lower case; throws when it is not one.
 */
export function decodeLoaderPartUuid(raw: Uint8Array): string {
  if (raw.length < 4 + 2 || (raw.length - 4) % 2 !== 0) {
    throw new Error(`LoaderDevicePartUUID: ${raw.length} bytes is not a UTF-16 string variable`);
  }
  const text = new TextDecoder("utf-16le").decode(raw.subarray(4)).replace(/\0+$/, "");
  const g = text.toLowerCase();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(g)) {
    throw new Error(`LoaderDevicePartUUID: ${JSON.stringify(text)} is not a GUID`);
  }
  return g;
}

const hasTable = (d: DiskFacts): d is DiskFacts & { table: GptTable } => !("error" in d.table);

function ofType(d: DiskFacts & { table: GptTable }, type: string) {
  return d.table.partitions.filter((p) => p.type === type);
}

function planned(d: DiskFacts & { table: GptTable }, index: number): PlannedPartition {
  const p = d.table.partitions.find((p) => p.index === index)!;
  const name = d.partitions.get(index);
  if (!name) {
    throw new Error(
      `boot disk ${d.name}: GPT partition ${index} has no kernel device (partition table not re-read?)`,
    );
  }
  return { device: `/dev/${name}`, guid: p.guid, sizeBytes: p.sizeBytes };
}

function only(d: DiskFacts & { table: GptTable }, type: string, what: string): number {
  const found = ofType(d, type);
  if (found.length !== 1) {
    throw new Error(
      `boot disk ${d.name}: ${
        found.length === 0 ? "no" : `${found.length}`
      } ${what} partitions (type ${type})${
        found.length ? ` at ${found.map((p) => p.index).join(", ")}` : ""
      }; expected exactly one`,
    );
  }
  return found[0].index;
}

/** Chooses the boot disk and its ESP and data partitions (see the module comment). */
export function planBootDisk(f: BootDiskFacts): BootDiskPlan {
  const readable = f.disks.filter(hasTable);
  let disk: DiskFacts & { table: GptTable };
  let reason: string;
  let espIndex: number | undefined;
  if (f.loaderPartUuid) {
    const holders = readable.filter((d) =>
      d.table.partitions.some((p) => p.guid === f.loaderPartUuid)
    );
    if (holders.length !== 1) {
      throw new Error(
        `the firmware booted from partition ${f.loaderPartUuid} (LoaderDevicePartUUID), which ${
          holders.length
            ? `is on ${holders.length} disks (${holders.map((d) => d.name)})`
            : "no disk has"
        }`,
      );
    }
    disk = holders[0];
    const p = disk.table.partitions.find((p) => p.guid === f.loaderPartUuid)!;
    if (p.type !== PARTITION_TYPES.esp) {
      throw new Error(
        `the firmware booted from ${disk.name} partition ${p.index}, which is not an ESP (type ${p.type})`,
      );
    }
    if (f.rootDisk && f.rootDisk !== disk.name) {
      throw new Error(
        `the firmware booted from disk ${disk.name} but the dm-verity root is on ${f.rootDisk}`,
      );
    }
    espIndex = p.index;
    reason = `LoaderDevicePartUUID ${f.loaderPartUuid}`;
  } else if (f.rootDisk) {
    const d = readable.find((d) => d.name === f.rootDisk);
    if (!d) {
      const bad = f.disks.find((d) => d.name === f.rootDisk);
      throw new Error(
        `the dm-verity root is on ${f.rootDisk}, which has no readable GPT${
          bad && "error" in bad.table ? `: ${bad.table.error}` : ""
        }`,
      );
    }
    disk = d;
    reason = "it holds the dm-verity root";
  } else {
    const candidates = readable.filter((d) =>
      ofType(d, PARTITION_TYPES.esp).length > 0 && ofType(d, PARTITION_TYPES.data).length > 0
    );
    if (candidates.length !== 1) {
      throw new Error(
        candidates.length === 0
          ? `no disk has both an ESP and a Metropolis data partition (disks: ${
            f.disks.map((d) => d.name).join(", ") || "none"
          })`
          : `${candidates.length} disks have an ESP and a Metropolis data partition (${
            candidates.map((d) => d.name).join(", ")
          }) and neither LoaderDevicePartUUID nor the root device says which one booted`,
      );
    }
    disk = candidates[0];
    reason = "the only disk with an ESP and a data partition";
  }
  espIndex ??= only(disk, PARTITION_TYPES.esp, "ESP");
  const dataIndex = only(disk, PARTITION_TYPES.data, "data");
  return {
    disk: disk.name,
    reason,
    esp: planned(disk, espIndex),
    data: planned(disk, dataIndex),
  };
}

/** The ESP mount (node.md §8.1): FAT, read-write, only root may read it (it holds the NUK). */
export function espMountSpec(device: string, target: string): {
  source: string;
  target: string;
  fstype: string;
  flags: number;
  data: string;
} {
  return {
    source: device,
    target,
    fstype: "vfat",
    flags: MS.NOSUID | MS.NODEV | MS.NOEXEC,
    data: "umask=0077,shortname=mixed,errors=remount-ro",
  };
}
