/**
 * MountNew / MountExisting of a VM node's data partition (node.md §8.3): performs the decisions
 * of vm_data_plan.ts with device-mapper ioctls (node/base/devicemapper), `O_DIRECT` reads and
 * writes, `mkfs.xfs` and mount(2). No cryptsetup, no dmsetup.
 *
 * MountNew formats: XFS (INSECURE), dm-crypt + XFS (ENCRYPTED), or dm-integrity + dm-crypt + XFS
 * (AUTHENTICATED_ENCRYPTED). MountExisting never formats: it opens the mapping with the key and
 * checks for the XFS superblock before mounting. A wrong key, a modified partition or a partition
 * that was never formatted fails with a one-line reason and leaves no device-mapper device
 * behind; what is on the partition stays as it was.
 * @module
 */
import { NodeStorageSecurity } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { readDirect, writeDirect } from "../../base/blockdev/direct_io.ts";
import { devString } from "../../base/blockdev/sysblock.ts";
import { DeviceMapper } from "../../base/devicemapper/control.ts";
import {
  decodeIntegritySuperblock,
  INTEGRITY_SB_SECTORS,
} from "../../base/devicemapper/integrity_sb.ts";
import { hasXfsSuperblock } from "./loop.ts";
import { leaveMount } from "./leave.ts";
import { mount } from "../../base/sys/mount.ts";
import { SysError } from "../../base/sys/errno.ts";
import {
  type Capabilities,
  checkStorageSecurity,
  type DataKey,
  type DataStorage,
} from "./platform.ts";
import {
  cryptTable,
  DATA_DM_NAMES,
  DATA_MOUNT,
  DATA_SECTOR_BYTES,
  dataMountSteps,
  dataUnmountTargets,
  FIRST_USE_ZEROED_BYTES,
  INTEGRITY_FORMAT_SECTORS,
  INTEGRITY_TAG_BYTES,
  integrityTable,
  MKFS_XFS,
  mkfsXfsArgv,
  volumeKey,
} from "./vm_data_plan.ts";

/** The data partition found on the boot disk. */
export interface DataPartition {
  /** `/dev/<name>`. */
  device: string;
  sizeBytes: number;
}

/** Options of {@link vmDataStorage}. */
export interface VmDataOptions {
  caps: Pick<Capabilities, "encryption">;
  /** The data partition; throws when the boot disk was not found (vm_disk.ts). */
  partition: () => DataPartition;
  /** Device-mapper control (default `/dev/mapper/control`). */
  dm?: DeviceMapper;
  /** mkfs.xfs binary (default the image's). */
  mkfs?: string;
  /** Mount point (default `/data`). */
  target?: string;
  /** Mount with project quotas (default true: the node kernel has CONFIG_XFS_QUOTA). */
  prjquota?: boolean;
}

type Log = (line: string) => void;

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const name = (s: NodeStorageSecurity) => NodeStorageSecurity[s] ?? String(s);

/** `major:minor` of the block device node at `path`. */
function devOf(path: string): string {
  const st = Deno.statSync(path);
  if (!st.isBlockDevice || st.rdev === null) throw new Error(`${path} is not a block device`);
  return devString(st.rdev);
}

function mkfs(o: VmDataOptions, device: string, log: Log): number {
  const t = performance.now();
  const [bin, ...args] = mkfsXfsArgv(device, o.mkfs ?? MKFS_XFS);
  const out = new Deno.Command(bin, { args, stdin: "null" }).outputSync();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n")[0];
    throw new Error(`data partition: mkfs.xfs ${device}: exit ${out.code}: ${err}`);
  }
  const ms = performance.now() - t;
  log(`data partition: mkfs.xfs ${device} took ${secs(ms)}`);
  return ms;
}

function mountData(o: VmDataOptions, device: string): void {
  for (const s of dataMountSteps(device, o.target ?? DATA_MOUNT, o.prjquota ?? true)) {
    if (s.mkdir) Deno.mkdirSync(s.target, { recursive: true, mode: 0o755 });
    mount(s.source, s.target, s.fstype, s.flags, s.data);
  }
}

/** errno of dm-crypt's authentication failure (`BLK_STS_PROTECTION`) and of a bad message. */
const AUTH_ERRNOS: Record<number, string> = { 84: "EILSEQ", 74: "EBADMSG" };

/** A read error in one line; an authentication failure says so instead of strerror's words. */
export function readError(e: unknown): string {
  if (e instanceof SysError && AUTH_ERRNOS[e.errno]) {
    return `${e.syscall}(${e.arg}): ${AUTH_ERRNOS[e.errno]}: the sector failed authentication`;
  }
  return (e as Error).message;
}

/** Whether the first 4 KiB of `device` hold an XFS superblock; read errors propagate. */
function xfsAt(device: string): boolean {
  return hasXfsSuperblock(readDirect(device, 0, DATA_SECTOR_BYTES));
}

/** Removes device-mapper devices (top first), ignoring ones that are not there. */
function removeAll(dm: DeviceMapper, names: string[]): void {
  for (const n of names) {
    try {
      dm.remove(n);
    } catch { /* absent, or the original error is the one worth reporting */ }
  }
}

/** The opened mapping: the device XFS lives on and the dm names to remove on failure. */
interface Opened {
  device: string;
  names: string[];
}

/**
 * First use of an authenticated partition: zero the superblock area, let the kernel format
 * dm-integrity through a one-block device, read the size it provides.
 */
function formatIntegrity(dm: DeviceMapper, part: DataPartition, log: Log): number {
  const t = performance.now();
  writeDirect(part.device, 0, new Uint8Array(INTEGRITY_SB_SECTORS * 512));
  dm.createActive(DATA_DM_NAMES.integrityFormat, [
    integrityTable(devOf(part.device), INTEGRITY_FORMAT_SECTORS),
  ]);
  dm.remove(DATA_DM_NAMES.integrityFormat);
  const sb = decodeIntegritySuperblock(readDirect(part.device, 0, INTEGRITY_SB_SECTORS * 512));
  if (!sb) throw new Error("data partition: dm-integrity did not write its superblock");
  log(
    `data partition: dm-integrity formatted (${sb.journalSections} journal sections, ` +
      `${sb.providedDataSectors} data sectors) in ${secs(performance.now() - t)}`,
  );
  return sb.providedDataSectors;
}

/** Sectors an existing dm-integrity partition provides; refuses anything else. */
function existingIntegrity(part: DataPartition): number {
  const sb = decodeIntegritySuperblock(readDirect(part.device, 0, INTEGRITY_SB_SECTORS * 512));
  if (!sb) {
    throw new Error(
      "data partition: no dm-integrity superblock (not formatted for AUTHENTICATED_ENCRYPTED)",
    );
  }
  if (sb.tagSize !== INTEGRITY_TAG_BYTES || 512 << sb.log2SectorsPerBlock !== DATA_SECTOR_BYTES) {
    throw new Error(
      `data partition: dm-integrity has ${sb.tagSize}-byte tags and ${
        512 << sb.log2SectorsPerBlock
      }-byte blocks, expected ${INTEGRITY_TAG_BYTES} and ${DATA_SECTOR_BYTES}`,
    );
  }
  return sb.providedDataSectors;
}

/** Sets up dm-integrity (authenticated) and dm-crypt for `key`; formats dm-integrity if `fresh`. */
async function openMapping(
  dm: DeviceMapper,
  part: DataPartition,
  key: DataKey,
  fresh: boolean,
  log: Log,
): Promise<Opened> {
  // Fails with one line when there is no device-mapper, before anything touches the disk.
  dm.version();
  const vk = await volumeKey(key.security, key.key);
  const names: string[] = [];
  try {
    let below = devOf(part.device);
    let sectors = Math.floor(part.sizeBytes / 512);
    if (key.security === NodeStorageSecurity.AUTHENTICATED_ENCRYPTED) {
      sectors = fresh ? formatIntegrity(dm, part, log) : existingIntegrity(part);
      const integ = dm.createActive(DATA_DM_NAMES.integrity, [integrityTable(below, sectors)]);
      names.unshift(integ.name);
      below = `${integ.major}:${integ.minor}`;
    }
    const crypt = dm.createActive(DATA_DM_NAMES.crypt, [
      cryptTable(key.security, below, sectors, vk),
    ]);
    names.unshift(crypt.name);
    return { device: crypt.path, names };
  } catch (e) {
    removeAll(dm, names);
    throw e;
  } finally {
    vk.fill(0);
  }
}

async function mountNew(o: VmDataOptions, key: DataKey, log: Log): Promise<string[]> {
  checkStorageSecurity(o.caps, key.security);
  const part = o.partition();
  const t = performance.now();
  let names: string[] = [];
  if (key.security === NodeStorageSecurity.INSECURE) {
    mkfs(o, part.device, log);
    mountData(o, part.device);
  } else {
    const dm = o.dm ?? new DeviceMapper();
    const m = await openMapping(dm, part, key, true, log);
    try {
      // mkfs.xfs reads the start of the device looking for an old filesystem: give it written
      // (authenticated) zeros instead of never-written sectors (vm_data_plan.ts). The rate of
      // this write is what a full wipe of the partition would run at: logged for comparison.
      const w = performance.now();
      writeDirect(m.device, 0, new Uint8Array(FIRST_USE_ZEROED_BYTES));
      const ms = performance.now() - w;
      const mib = FIRST_USE_ZEROED_BYTES / 2 ** 20;
      log(
        `data partition: wrote ${mib} MiB of zeros through dm-crypt in ${ms.toFixed(0)} ms ` +
          `(a full wipe of ${Math.round(part.sizeBytes / 2 ** 20)} MiB at this rate: ~${
            secs((ms * part.sizeBytes) / FIRST_USE_ZEROED_BYTES)
          }; not done)`,
      );
      mkfs(o, m.device, log);
      mountData(o, m.device);
      names = m.names;
    } catch (e) {
      removeAll(dm, m.names);
      throw e;
    }
  }
  log(
    `data partition: ${part.device} (${Math.round(part.sizeBytes / 2 ** 20)} MiB) formatted ` +
      `${name(key.security)} and mounted at ${o.target ?? DATA_MOUNT}; first use took ${
        secs(performance.now() - t)
      }`,
  );
  return names;
}

async function mountExisting(o: VmDataOptions, key: DataKey, log: Log): Promise<string[]> {
  checkStorageSecurity(o.caps, key.security);
  const part = o.partition();
  const t = performance.now();
  let names: string[] = [];
  if (key.security === NodeStorageSecurity.INSECURE) {
    if (!xfsAt(part.device)) {
      throw new Error(`data partition: no XFS filesystem on ${part.device} (not formatted)`);
    }
    mountData(o, part.device);
  } else {
    const dm = o.dm ?? new DeviceMapper();
    const m = await openMapping(dm, part, key, false, log);
    try {
      let xfs: boolean;
      try {
        xfs = xfsAt(m.device);
      } catch (e) {
        throw new Error(
          `data partition: authentication failed reading the filesystem superblock (wrong key, ` +
            `or the partition was modified): ${readError(e)}`,
        );
      }
      if (!xfs) throw new Error("data partition: wrong key or not formatted (no XFS superblock)");
      mountData(o, m.device);
      names = m.names;
    } catch (e) {
      removeAll(dm, m.names);
      throw e;
    }
  }
  log(
    `data partition: ${part.device} opened ${name(key.security)} and mounted at ${
      o.target ?? DATA_MOUNT
    } in ${secs(performance.now() - t)}`,
  );
  return names;
}

/**
 * Before a power action: the exec subtrees and `/data` are unmounted (or `/data` is remounted
 * read-only when an orphan still holds it, see leave.ts), then the mappings are removed, top
 * first. A mapping under a filesystem that is still mounted stays (the kernel refuses to remove
 * it); its filesystem is read-only by then, so nothing is lost.
 */
function close(o: VmDataOptions, names: string[], log: Log): void {
  const target = o.target ?? DATA_MOUNT;
  let left = "not mounted";
  for (const t of dataUnmountTargets(target)) left = leaveMount(t, log);
  const closed: string[] = [];
  const kept: string[] = [];
  if (names.length) {
    const dm = o.dm ?? new DeviceMapper();
    for (const n of names) {
      try {
        dm.remove(n);
        closed.push(n);
      } catch (e) {
        kept.push(`${n} (${(e as Error).message})`);
      }
    }
  }
  if (left === "not mounted") return;
  log(
    `data partition: ${target} ${left}${closed.length ? `, closed ${closed.join(", ")}` : ""}${
      kept.length ? `; not closed: ${kept.join("; ")}` : ""
    }`,
  );
}

/** The VM's data storage (see the module comment). */
export function vmDataStorage(o: VmDataOptions): DataStorage {
  const quiet: Log = () => {};
  // The mappings this process opened (top first), for close().
  let names: string[] = [];
  return {
    mountNew: async (key, log) => void (names = await mountNew(o, key, log ?? quiet)),
    mountExisting: async (key, log) => void (names = await mountExisting(o, key, log ?? quiet)),
    close: (log) => close(o, names, log),
  };
}
