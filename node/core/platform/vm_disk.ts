/**
 * Finds a VM node's boot disk and mounts its ESP (node.md §3, §8.1): gathers the facts
 * vm_disk_plan.ts decides from — `LoaderDevicePartUUID` from efivarfs, the disk under the root's
 * dm-verity device from sysfs, the GPT of every disk with partitions — and mounts the ESP the
 * plan names at `/esp`. The plan is kept: the data partition is on the same disk.
 * @module
 */
import { readGpt, type SectorSize } from "../../base/blockdev/gpt.ts";
import { devString, listDisks, slavesOf } from "../../base/blockdev/sysblock.ts";
import { mount } from "../../base/sys/mount.ts";
import {
  type BootDiskFacts,
  type BootDiskPlan,
  decodeLoaderPartUuid,
  type DiskFacts,
  espMountSpec,
  LOADER_DEVICE_PART_UUID,
  planBootDisk,
} from "./vm_disk_plan.ts";

/** Where the facts come from (tests point them at a directory tree). */
export interface BootDiskSources {
  /** sysfs root (default `/sys`). */
  sys?: string;
  /** `/dev` (default). */
  dev?: string;
  /** The efivarfs file of LoaderDevicePartUUID (default {@link LOADER_DEVICE_PART_UUID}). */
  loaderVariable?: string;
  /** Path whose device is the root (default `/`). */
  root?: string;
}

/** Reads the facts of {@link planBootDisk} from the running system. */
export async function bootDiskFacts(s: BootDiskSources = {}): Promise<BootDiskFacts> {
  const sys = s.sys ?? "/sys";
  const dev = s.dev ?? "/dev";
  let loaderPartUuid: string | undefined;
  try {
    loaderPartUuid = decodeLoaderPartUuid(
      await Deno.readFile(s.loaderVariable ?? LOADER_DEVICE_PART_UUID),
    );
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const sysDisks = listDisks(sys);
  // `/` on a dm-verity device: its slave is the system partition, whose disk booted.
  const rootSlaves = slavesOf(devString(Deno.statSync(s.root ?? "/").dev), sys);
  const rootDisk = sysDisks.find((d) => d.partitions.some((p) => rootSlaves.includes(p.name)))
    ?.name;
  const disks: DiskFacts[] = [];
  for (const d of sysDisks) {
    let table: DiskFacts["table"];
    try {
      if (d.logicalBlockSize !== 512 && d.logicalBlockSize !== 4096) {
        throw new Error(`logical block size ${d.logicalBlockSize}`);
      }
      table = await readGpt(`${dev}/${d.name}`, d.logicalBlockSize as SectorSize);
    } catch (e) {
      table = { error: (e as Error).message };
    }
    disks.push({
      name: d.name,
      table,
      partitions: new Map(d.partitions.map((p) => [p.number, p.name])),
    });
  }
  return { loaderPartUuid, rootDisk, disks };
}

/** Finds the boot disk and mounts its ESP at `target`; returns the plan. */
export async function mountEsp(
  target: string,
  log: (line: string) => void,
  sources: BootDiskSources = {},
): Promise<BootDiskPlan> {
  const plan = planBootDisk(await bootDiskFacts(sources));
  log(
    `boot disk ${plan.disk} (${plan.reason}): ESP ${plan.esp.device}, data ${plan.data.device}`,
  );
  const m = espMountSpec(plan.esp.device, target);
  Deno.mkdirSync(target, { recursive: true, mode: 0o700 });
  mount(m.source, m.target, m.fstype, m.flags, m.data);
  log(`ESP: mounted ${plan.esp.device} (vfat) at ${target}`);
  return plan;
}
