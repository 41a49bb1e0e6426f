/**
 * The A/B slots of a VM's boot disk (image.md §7) for updates: the system partitions by GPT
 * type (`METROPOLIS-SYSTEM-A`/`-B` types) and the ESP as a boot entry names it, on the disk the
 * ESP mount chose (vm_disk_plan.ts). The table is read again at each use (an update is rare and
 * the disk is the authority); the choice of partitions is the pure {@link slotPartitions}.
 * @module
 */
import { PARTITION_TYPES } from "../../base/blockdev/parttypes.ts";
import type { GptTable } from "../../base/blockdev/gpt.ts";
import { bootDiskFacts, type BootDiskSources } from "./vm_disk.ts";
import type { DiskFacts } from "./vm_disk_plan.ts";
import type { BootPartition, SlotStorage } from "./platform.ts";

/** The slot partitions and the ESP of one disk. */
export interface SlotPartitions {
  /** `/dev/<name>` of slot A and B. */
  system: Record<"a" | "b", string>;
  esp: BootPartition;
}

function one(d: DiskFacts & { table: GptTable }, type: string, what: string) {
  const found = d.table.partitions.filter((p) => p.type === type);
  if (found.length !== 1) {
    throw new Error(
      `boot disk ${d.name}: ${found.length} ${what} partitions; expected exactly one`,
    );
  }
  const p = found[0];
  const name = d.partitions.get(p.index);
  if (!name) throw new Error(`boot disk ${d.name}: partition ${p.index} has no kernel device`);
  return { p, device: `/dev/${name}` };
}

/** Picks the system partitions and the ESP of the boot disk `d` (pure). */
export function slotPartitions(d: DiskFacts): SlotPartitions {
  if ("error" in d.table) throw new Error(`boot disk ${d.name}: ${d.table.error}`);
  const t = d as DiskFacts & { table: GptTable };
  const esp = one(t, PARTITION_TYPES.esp, "ESP").p;
  return {
    system: {
      a: one(t, PARTITION_TYPES.systemA, "system A").device,
      b: one(t, PARTITION_TYPES.systemB, "system B").device,
    },
    esp: {
      number: esp.index,
      startLba: BigInt(esp.firstLba),
      sizeLba: BigInt(esp.lastLba - esp.firstLba + 1),
      guid: esp.guid,
    },
  };
}

/**
 * The {@link SlotStorage} of the boot disk `disk()` names (the ESP mount's choice; it throws
 * while no boot disk was found).
 */
export function vmSlots(disk: () => string, sources: BootDiskSources = {}): SlotStorage {
  const current = async () => {
    const name = disk();
    const d = (await bootDiskFacts(sources)).disks.find((x) => x.name === name);
    if (!d) throw new Error(`boot disk ${name} is gone`);
    return slotPartitions(d);
  };
  return {
    systemDevice: async (slot) => (await current()).system[slot],
    espPartition: async () => (await current()).esp,
  };
}
