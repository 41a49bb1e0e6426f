/**
 * The `vm` platform (node.md §3): a VM or bare-metal machine booted from the signed image. The
 * agent owns the kernel: devtmpfs, efivarfs, its own cgroup2, WireGuard, kexec, `/dev/tpmrm0`,
 * consoles tty0/ttyS0/ttyS1, and reboot(2) restarts the machine.
 *
 * Not implemented yet (issue #13 deliverables 2–3): finding and mounting the ESP and the data
 * partition on the boot disk (GPT) and device-mapper. Until then {@link Capabilities.encryption}
 * is false, the ESP is not mounted (a log line says so) and MountNew/MountExisting fail with a
 * clear error instead of writing the node's secrets onto the read-only root.
 * @module
 */
import { mountAll, vmMounts } from "./mounts.ts";
import {
  type Capabilities,
  checkStorageSecurity,
  type ConsoleSink,
  type DataKey,
  type Platform,
} from "./platform.ts";
import { openTpm, TPM_DEVICE } from "./tpm.ts";
import { workerHost } from "./worker_host.ts";

/** The VM's consoles, in the order lines are written. */
export const VM_CONSOLES = ["/dev/tty0", "/dev/ttyS0", "/dev/ttyS1"];

/** What a VM can do today (encryption arrives with device-mapper, issue #13 deliverable 2). */
export const VM_CAPABILITIES: Capabilities = Object.freeze({
  encryption: false,
  wireguard: true,
  kexec: true,
  efivars: true,
  reboot: "machine",
});

/** The error of a VM's data storage until the data partition is implemented. */
export const VM_DATA_UNAVAILABLE =
  "the data partition is not implemented on VM nodes yet (GPT + device-mapper, issue #13)";

/** Options of {@link vmPlatform} (tests). */
export interface VmPlatformOptions {
  /** Console device paths (default {@link VM_CONSOLES}). */
  consoles?: string[];
  /** TPM device (default {@link TPM_DEVICE}). */
  tpmDevice?: string;
  /** Where `status` of /proc/self/status is read for the worker host (tests). */
  procStatus?: string;
}

/** The `vm` platform. */
export function vmPlatform(o: VmPlatformOptions = {}): Platform {
  const caps = VM_CAPABILITIES;
  const unavailable = (key: DataKey): Promise<void> => {
    try {
      checkStorageSecurity(caps, key.security);
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.reject(new Error(VM_DATA_UNAVAILABLE));
  };
  return {
    name: "vm",
    capabilities: caps,
    bringUp: (log) => mountAll(vmMounts(), log),
    consoles() {
      const out: ConsoleSink[] = [];
      for (const p of o.consoles ?? VM_CONSOLES) {
        try {
          out.push(Deno.openSync(p, { write: true }));
        } catch { /* absent on this machine */ }
      }
      return out.length ? out : [Deno.stdout];
    },
    esp: {
      path: "/esp",
      mount(log) {
        log("ESP: not mounted (finding it on the boot disk is not implemented on VMs yet)");
        return Promise.resolve();
      },
    },
    data: { mountNew: unavailable, mountExisting: unavailable },
    tpm: (log) => openTpm({ device: o.tpmDevice ?? TPM_DEVICE }, log),
    // efivars boot control and the kexec loader are not written yet: Reboot answers UNAVAILABLE.
    power: {},
    workerHost: (nodeId) =>
      workerHost({ sharedCgroups: false, wireguard: caps.wireguard }, nodeId, o.procStatus),
  };
}
