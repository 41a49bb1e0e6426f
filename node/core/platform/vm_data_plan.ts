/**
 * The data partition of a VM / bare-metal node (node.md §8.2, §8.3) as pure decisions: volume
 * keys, device-mapper tables, the mkfs command line and the mounts. vm_data.ts performs them.
 *
 * Per storage security:
 * - INSECURE: XFS directly on the partition.
 * - ENCRYPTED: dm-crypt `aes-xts-plain64` (AES-256-XTS: a 64-byte key, two AES-256 keys) with
 *   4 KiB encryption sectors and IVs counted in them (`iv_large_sectors`, as LUKS2 does).
 * - AUTHENTICATED_ENCRYPTED: dm-integrity (journal mode, 4 KiB blocks, 28-byte tags, no internal
 *   hash) under dm-crypt `capi:gcm(aes)-random` with `integrity:28:aead` (AES-256-GCM, a 32-byte
 *   key; each 4 KiB sector gets a fresh random 12-byte IV and a 16-byte tag, stored by
 *   dm-integrity). A sector whose data, IV or tag was changed fails authentication: the read is
 *   an I/O error (`INTEGRITY AEAD ERROR` in the kernel log), never different data.
 *
 * Volume keys: the data key is NUK ⊕ CUK (32 bytes, cluster/enrolment.ts). It is not used as a
 * cipher key directly: AES-256-XTS needs 64 bytes, and one data key must never key two modes.
 * The volume key is `HKDF-SHA256(ikm = data key, salt = empty, info = "metropolis-data:<mode>",
 * length)` with `<mode>` = `encrypted` (64 bytes) or `authenticated_encrypted` (32 bytes).
 *
 * First use of an authenticated partition: dm-integrity initialises its superblock and journal
 * itself when the table is loaded onto a partition whose first 4 KiB are zero. It does NOT
 * initialise the tags of the data area (integritysetup's wipe writes the whole device once to do
 * that): a sector that was never written reads as an authentication error. We do not wipe —
 * writing a 4 GiB partition through AES-GCM and the dm-integrity journal costs minutes on TCG
 * and proportionally more on large disks — because XFS never reads a block it has not written
 * (mkfs.xfs writes every metadata block it later reads, and unwritten file extents read as
 * zeros without touching the device). The one read of unwritten space, mkfs.xfs probing for an
 * old superblock, is answered by writing {@link FIRST_USE_ZEROED_BYTES} of zeros through the
 * crypt device before mkfs. So an AEAD error in the kernel log always means modified data.
 *
 * Journal mode ('J') keeps data and tag of a sector consistent across a power cut (both are
 * written to the journal first, and committed journal entries are replayed at the next
 * activation). Bitmap mode ('B') would save the journal's second write but is only usable with
 * an internal hash, not with dm-crypt's AEAD tags; direct mode ('D') would turn a torn write
 * after a power cut into an authentication error, indistinguishable from tampering.
 * @module
 */
import { NodeStorageSecurity } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import type { DmTarget } from "../../base/devicemapper/codec.ts";
import { cryptTarget, integrityTarget } from "../../base/devicemapper/targets.ts";
import { MS } from "../../base/sys/mount.ts";

/** Device-mapper names of the data partition's layers (devices appear as `/dev/dm-<minor>`). */
export const DATA_DM_NAMES = {
  /** dm-integrity over the partition (AUTHENTICATED_ENCRYPTED). */
  integrity: "metropolis-data-integrity",
  /** A short-lived 4 KiB integrity device whose load makes the kernel format the superblock. */
  integrityFormat: "metropolis-data-integrity-format",
  /** dm-crypt over the partition or the integrity device; XFS lives on it. */
  crypt: "metropolis-data-crypt",
} as const;

/** Encryption sector and dm-integrity block size. */
export const DATA_SECTOR_BYTES = 4096;
/** Bytes per 4 KiB sector of authentication data: 12-byte random IV + 16-byte GCM tag. */
export const INTEGRITY_TAG_BYTES = 28;
/** Zeros written through a fresh crypt device before mkfs.xfs (see the module comment). */
export const FIRST_USE_ZEROED_BYTES = 1024 * 1024;
/** mkfs.xfs in the system image (image.md §3). */
export const MKFS_XFS = "/bin/mkfs.xfs";
/** Where the data partition is mounted. */
export const DATA_MOUNT = "/data";
/**
 * Subtrees of `/data` that need `exec` (node.md §8.2): containerd's snapshots, the kubelet's
 * plugin and pod directories, CSI volumes. The same paths as node/kubernetes/paths.ts `DATA`;
 * they are listed here because the platform cannot import the Kubernetes layer.
 */
export const DATA_EXEC_SUBTREES: readonly string[] = [
  "/data/containerd",
  "/data/kubernetes/kubelet",
  "/data/volumes",
];

/** The HKDF `info` mode names and volume key lengths of the encrypted securities. */
export const VOLUME_KEYS: Partial<Record<NodeStorageSecurity, { mode: string; bytes: number }>> = {
  [NodeStorageSecurity.ENCRYPTED]: { mode: "encrypted", bytes: 64 },
  [NodeStorageSecurity.AUTHENTICATED_ENCRYPTED]: { mode: "authenticated_encrypted", bytes: 32 },
};

const securityName = (s: NodeStorageSecurity) => NodeStorageSecurity[s] ?? String(s);

/** The volume key of `security` from the 32-byte data key (module comment). */
export async function volumeKey(
  security: NodeStorageSecurity,
  dataKey: Uint8Array,
): Promise<Uint8Array> {
  const v = VOLUME_KEYS[security];
  if (!v) throw new Error(`data partition: ${securityName(security)} has no volume key`);
  if (dataKey.length !== 32) {
    throw new Error(`data partition: the data key is ${dataKey.length} bytes, expected 32`);
  }
  const ikm = await crypto.subtle.importKey(
    "raw",
    dataKey as Uint8Array<ArrayBuffer>,
    "HKDF",
    false,
    [
      "deriveBits",
    ],
  );
  const bits = await crypto.subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: new Uint8Array(),
      info: new TextEncoder().encode(`metropolis-data:${v.mode}`),
    },
    ikm,
    v.bytes * 8,
  );
  return new Uint8Array(bits);
}

/** `sectors` rounded down to whole 4 KiB data sectors (in 512-byte sectors). */
export function wholeDataSectors(sectors: number): number {
  const per = DATA_SECTOR_BYTES / 512;
  return Math.floor(sectors / per) * per;
}

/**
 * The dm-integrity table over `device` (`major:minor`) providing `sectors` sectors. With
 * `sectors` = {@link INTEGRITY_FORMAT_SECTORS} it is the formatting device of first use.
 */
export function integrityTable(device: string, sectors: number): DmTarget {
  return integrityTarget({
    device,
    length: sectors,
    tagBytes: INTEGRITY_TAG_BYTES,
    mode: "J",
    blockSize: DATA_SECTOR_BYTES,
    fixPadding: true,
  });
}

/** Length of the formatting device: one 4 KiB block (the kernel sizes the format by the disk). */
export const INTEGRITY_FORMAT_SECTORS = DATA_SECTOR_BYTES / 512;

/** The dm-crypt table of `security` over `device` (`major:minor`) of `sectors` sectors. */
export function cryptTable(
  security: NodeStorageSecurity,
  device: string,
  sectors: number,
  key: Uint8Array,
): DmTarget {
  const length = wholeDataSectors(sectors);
  if (length === 0) throw new Error(`data partition: ${sectors} sectors is too small`);
  const want = VOLUME_KEYS[security]?.bytes;
  if (want === undefined || key.length !== want) {
    throw new Error(
      `data partition: ${securityName(security)} needs a ${
        want ?? "(no)"
      }-byte key, got ${key.length}`,
    );
  }
  if (security === NodeStorageSecurity.ENCRYPTED) {
    return cryptTarget({
      cipher: "aes-xts-plain64",
      key,
      device,
      length,
      sectorSize: DATA_SECTOR_BYTES,
      ivLargeSectors: true,
    });
  }
  return cryptTarget({
    cipher: "capi:gcm(aes)-random",
    key,
    device,
    length,
    integrity: { tagBytes: INTEGRITY_TAG_BYTES, type: "aead" },
    sectorSize: DATA_SECTOR_BYTES,
  });
}

/** `mkfs.xfs` for first use (node.md §8.3: quiet, no discard, over whatever was there). */
export function mkfsXfsArgv(device: string, mkfs = MKFS_XFS): string[] {
  return [mkfs, "-q", "-K", "-f", device];
}

/** One mount(2) call of the data mount plan. */
export interface DataMountStep {
  source: string | null;
  target: string;
  fstype: string | null;
  flags: number;
  data?: string;
  /** Create `target` (and parents) first: subtrees of the fresh filesystem. */
  mkdir?: boolean;
}

/**
 * Mounting `/data` (node.md §8.2): XFS `nosuid,nodev,noexec` with project quotas (`prjquota`
 * false: a kernel without XFS quotas, i.e. the host running the unit tests), then each
 * {@link DATA_EXEC_SUBTREES} bound onto itself and remounted without `noexec`.
 */
export function dataMountSteps(
  device: string,
  target = DATA_MOUNT,
  prjquota = true,
): DataMountStep[] {
  const steps: DataMountStep[] = [{
    source: device,
    target,
    fstype: "xfs",
    flags: MS.NOSUID | MS.NODEV | MS.NOEXEC,
    ...(prjquota ? { data: "prjquota" } : {}),
  }];
  for (const sub of DATA_EXEC_SUBTREES) {
    const path = target + sub.slice(DATA_MOUNT.length);
    steps.push(
      { source: path, target: path, fstype: null, flags: MS.BIND, mkdir: true },
      {
        source: null,
        target: path,
        fstype: null,
        flags: MS.REMOUNT | MS.BIND | MS.NOSUID | MS.NODEV,
      },
    );
  }
  return steps;
}

/**
 * Unmount order of the data mount plan before a power action: every target of
 * {@link dataMountSteps} once, the exec subtrees (bind mounts inside `/data`) before `/data`.
 */
export function dataUnmountTargets(target = DATA_MOUNT): string[] {
  const seen = new Set<string>();
  for (const s of dataMountSteps("", target, false)) seen.add(s.target);
  return [...seen].reverse();
}
