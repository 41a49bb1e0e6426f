/**
 * The Platform seam (node.md §3): what the machine under the agent offers, as one value built
 * once by node/main.ts from `--platform=vm|namespace` (vm.ts, namespace.ts). Everything else asks
 * the Platform what it can do and never compares a platform name ("capabilities, not names").
 * @module
 */
import { NodeStorageSecurity } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import type { Tpm } from "../../base/tpm/mod.ts";
import type { PlatformWorkerHost } from "./worker_host.ts";

/** What reboot(2) does on a platform. */
export type RebootKind =
  /** Restarts the machine through its firmware: A/B slots, BootNext and the firmware UI apply. */
  | "machine"
  /** Ends the node's PID namespace; what follows is up to the launcher (no firmware, no slots). */
  | "pid-namespace";

/** What a platform can do (node.md §3, last row of the table). */
export interface Capabilities {
  /** The data partition can be encrypted (and authenticated): device-mapper usable by the agent. */
  readonly encryption: boolean;
  /** The kernel has WireGuard (clusternet's WireGuard mode; without it: direct routes). */
  readonly wireguard: boolean;
  /** `kexec_file_load` can replace the running kernel (Reboot TYPE_KEXEC). */
  readonly kexec: boolean;
  /** efivarfs is mounted at bring-up (on an EFI boot): BootNext, OsIndications. */
  readonly efivars: boolean;
  /** What a reboot is. */
  readonly reboot: RebootKind;
}

/** A data key request of node.md §8.3. */
export interface DataKey {
  /** The storage security enrolment chose (§12.8); the platform refuses what it cannot do. */
  security: NodeStorageSecurity;
  /** NUK ⊕ CUK (32 bytes); empty with INSECURE storage (join does not fetch the CUK then). */
  key: Uint8Array;
}

/** `/data` (node.md §8.2, §8.3): MountNew on bootstrap/register, MountExisting on join. */
export interface DataStorage {
  /**
   * First use: prepares the data storage for `key.security` (formatting it) and mounts `/data`.
   * `log` gets progress lines (what was formatted, how long it took).
   */
  mountNew(key: DataKey, log?: (line: string) => void): Promise<void>;
  /** Later boots: unlocks and mounts the existing data storage; never formats. */
  mountExisting(key: DataKey, log?: (line: string) => void): Promise<void>;
  /**
   * Before a power action, once every process of the node stopped: leaves the data storage so
   * that the next boot finds it clean (unmounted, or at least read-only with its log written;
   * device-mapper mappings removed). Best effort: never throws, says what it could not do.
   */
  close(log: (line: string) => void): void;
}

/** The ESP at `/esp` (node.md §8.1). */
export interface EspStorage {
  /** Mount point (`/esp` on every platform). */
  readonly path: string;
  /** Makes the ESP available at {@link path} (root runnable, node.md §2 step 5). */
  mount(log: (line: string) => void): Promise<void>;
  /** Before a power action: unmounts the ESP if this platform mounted it (best effort). */
  close(log: (line: string) => void): void;
}

/** EFI boot control (efivarfs) as far as Reboot needs it (mgmt/reboot.ts `BootControl`). */
export interface PlatformBootControl {
  rollback(): Promise<void>;
  firmwareUiSupported(): Promise<boolean>;
  requestFirmwareUi(): Promise<void>;
}

/** A GPT partition as an EFI boot entry's hard-drive node names it. */
export interface BootPartition {
  /** 1-based GPT entry index. */
  number: number;
  startLba: bigint;
  sizeLba: bigint;
  /** Unique partition GUID. */
  guid: string;
}

/**
 * The A/B system slots of the boot disk (image.md §7), for updates (node/core/update). Absent
 * where there are none (namespace nodes) or where the boot disk is not found yet.
 */
export interface SlotStorage {
  /** Block device of slot `slot`'s system partition (`METROPOLIS-SYSTEM-A`/`-B`). */
  systemDevice(slot: "a" | "b"): Promise<string>;
  /** The ESP partition (boot entries point into it). */
  espPartition(): Promise<BootPartition>;
}

/** How the platform prepares the next boot; the power action itself is PID 1's (node/base/pid1). */
export interface PowerControl {
  /** EFI boot control; absent: efivars unusable by the agent (yet). */
  efi?: PlatformBootControl;
  /** Stages the active slot's kernel for kexec; absent: no kexec loader (yet). */
  kexecLoad?: () => Promise<void>;
}

/** Where console lines go. */
export interface ConsoleSink {
  writeSync(p: Uint8Array): number;
}

/** The machine under the agent. */
export interface Platform {
  /** For log lines only (`platform vm`); never branch on it, ask {@link capabilities}. */
  readonly name: string;
  readonly capabilities: Capabilities;
  /**
   * Bring-up of node.md §2 step 4: the mounts (a namespace node first builds its private root
   * and pivots into it). Called once, before anything else touches the filesystem.
   */
  bringUp(log: (line: string) => void): void;
  /** The consoles (opened once by the caller, at start). */
  consoles(): ConsoleSink[];
  readonly esp: EspStorage;
  readonly data: DataStorage;
  /** Opens the node's TPM once per process (after {@link bringUp}); undefined: none. */
  tpm(log: (line: string) => void): Promise<Tpm | undefined>;
  readonly power: PowerControl;
  /** The A/B slots; absent: no A/B updates on this platform (UpdateNode is UNIMPLEMENTED). */
  readonly slots?: SlotStorage;
  /** What the platform offers the KubernetesWorker role of node `nodeId`. */
  workerHost(nodeId: string): PlatformWorkerHost;
}

/** Storage security levels a platform with `caps` can provide, strongest last (§12.8). */
export function storageSecurities(caps: Pick<Capabilities, "encryption">): NodeStorageSecurity[] {
  return caps.encryption
    ? [
      NodeStorageSecurity.INSECURE,
      NodeStorageSecurity.ENCRYPTED,
      NodeStorageSecurity.AUTHENTICATED_ENCRYPTED,
    ]
    : [NodeStorageSecurity.INSECURE];
}

/** Throws unless a platform with `caps` can provide `security` (a data storage's first check). */
export function checkStorageSecurity(
  caps: Pick<Capabilities, "encryption">,
  security: NodeStorageSecurity,
): void {
  if (!storageSecurities(caps).includes(security)) {
    throw new Error(
      `data storage: ${
        NodeStorageSecurity[security] ?? security
      } is not available on this platform (no device-mapper; only INSECURE)`,
    );
  }
}
