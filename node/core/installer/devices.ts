/**
 * Block devices as the installer sees them (image.md §11): whole disks with their size and
 * removable/read-only flags from sysfs, their partitions, and the installer medium found by its
 * FAT32 label. The choice of target is the pure {@link chooseTarget}.
 * @module
 */
import { fat32Label } from "../../base/fat32/fat32.ts";
import { INSTALLER_MEDIUM, MiB, minimumDiskMiB } from "../../base/osimage/layout.ts";

/** One whole disk. */
export interface DiskInfo {
  /** Kernel name (`vda`). */
  name: string;
  sizeBytes: number;
  removable: boolean;
  readOnly: boolean;
  /** A real device (sysfs `device` link): loop, dm and ram devices have none. */
  physical: boolean;
  /** Kernel names of its partitions. */
  partitions: string[];
}

/** Where sysfs and /dev are (tests point them at a temp tree and image files). */
export interface DeviceSources {
  sys?: string;
  dev?: string;
}

const readNum = (p: string) => Number(Deno.readTextFileSync(p).trim());

/** The whole disks of `/sys/block`, sorted by name. */
export function listDisks(s: DeviceSources = {}): DiskInfo[] {
  const sys = s.sys ?? "/sys";
  const out: DiskInfo[] = [];
  for (const e of Deno.readDirSync(`${sys}/block`)) {
    const base = `${sys}/block/${e.name}`;
    const partitions: string[] = [];
    for (const p of Deno.readDirSync(base)) {
      try {
        Deno.statSync(`${base}/${p.name}/partition`);
        partitions.push(p.name);
      } catch { /* not a partition */ }
    }
    let physical = true;
    try {
      Deno.statSync(`${base}/device`);
    } catch {
      physical = false;
    }
    out.push({
      name: e.name,
      sizeBytes: readNum(`${base}/size`) * 512,
      removable: readNum(`${base}/removable`) !== 0,
      readOnly: readNum(`${base}/ro`) !== 0,
      physical,
      partitions: partitions.sort(),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The installer medium: the partition labelled `METRO_INST` and its disk. */
export interface Medium {
  disk: string;
  partition: string;
}

/** Finds the medium among `disks` by reading each partition's boot sector. */
export async function findMedium(
  disks: DiskInfo[],
  s: DeviceSources = {},
): Promise<Medium | undefined> {
  const dev = s.dev ?? "/dev";
  for (const d of disks) {
    for (const p of d.partitions) {
      let sector: Uint8Array;
      try {
        const f = await Deno.open(`${dev}/${p}`);
        try {
          sector = new Uint8Array(512);
          let got = 0;
          while (got < 512) {
            const n = await f.read(sector.subarray(got));
            if (n === null) break;
            got += n;
          }
        } finally {
          f.close();
        }
      } catch {
        continue;
      }
      if (fat32Label(sector) === INSTALLER_MEDIUM.label) return { disk: d.name, partition: p };
    }
  }
  return undefined;
}

/** The message of image.md §11 when no disk fits. */
export const NO_TARGET = "couldn't find a suitable block device";

/**
 * The target: the first (by name) physical, non-removable, writable disk that is not the
 * medium's and holds at least the installer layout (8705 MiB); undefined when none does.
 */
export function chooseTarget(
  disks: DiskInfo[],
  mediumDisk: string | undefined,
): DiskInfo | undefined {
  const min = minimumDiskMiB("installer") * MiB;
  return [...disks]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .find((d) =>
      d.physical && !d.removable && !d.readOnly && d.name !== mediumDisk && d.sizeBytes >= min
    );
}
