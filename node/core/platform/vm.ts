/**
 * The `vm` platform (node.md §3): a VM or bare-metal machine booted from the signed image. The
 * agent owns the kernel: devtmpfs, efivarfs, its own cgroup2, device-mapper, WireGuard, kexec,
 * `/dev/tpmrm0`, consoles tty0/ttyS0/ttyS1, and reboot(2) restarts the machine.
 *
 * Storage (node.md §8): the root runnable's `esp.mount` finds the boot disk by GPT partition type
 * (vm_disk_plan.ts: the firmware's LoaderDevicePartUUID, else the disk under the dm-verity root,
 * else the one disk with an ESP and a data partition; ambiguity is an error) and mounts its ESP
 * (vfat, read-write) at `/esp`. Enrolment's MountNew / MountExisting then prepare or open the
 * data partition of the same disk at `/data` per the storage security: plain XFS, dm-crypt
 * AES-XTS, or dm-integrity + dm-crypt AES-GCM, keyed from NUK ⊕ CUK (vm_data_plan.ts,
 * vm_data.ts). The NUK lives in the sealed configuration on the ESP (sealed to PCR 7 when the
 * node uses its TPM), the CUK only in the cluster.
 * @module
 */
import { leaveMount } from "./leave.ts";
import { mountAll, vmMounts } from "./mounts.ts";
import { vmDataStorage } from "./vm_data.ts";
import { mountEsp } from "./vm_disk.ts";
import { vmSlots } from "./vm_slots.ts";
import type { BootDiskPlan } from "./vm_disk_plan.ts";
import type { Capabilities, ConsoleSink, Platform } from "./platform.ts";
import { openTpm, TPM_DEVICE } from "./tpm.ts";
import { workerHost } from "./worker_host.ts";

/** The VM's consoles, in the order lines are written. */
export const VM_CONSOLES = ["/dev/tty0", "/dev/ttyS0", "/dev/ttyS1"];

/** What a VM can do. */
export const VM_CAPABILITIES: Capabilities = Object.freeze({
  encryption: true,
  wireguard: true,
  kexec: true,
  efivars: true,
  reboot: "machine",
});

/** The error of MountNew / MountExisting when the ESP mount did not find the boot disk. */
export const VM_NO_BOOT_DISK = "data partition: the boot disk was not found (see the ESP mount)";

/** Options of {@link vmPlatform} (tests). */
export interface VmPlatformOptions {
  /** Console device paths (default {@link VM_CONSOLES}). */
  consoles?: string[];
  /** TPM device (default {@link TPM_DEVICE}). */
  tpmDevice?: string;
  /** Where `status` of /proc/self/status is read for the worker host (tests). */
  procStatus?: string;
  /** ESP mount point (default `/esp`). */
  esp?: string;
}

/** The `vm` platform. */
export function vmPlatform(o: VmPlatformOptions = {}): Platform {
  const caps = VM_CAPABILITIES;
  const espPath = o.esp ?? "/esp";
  // Found by the ESP mount (root runnable) before enrolment mounts /data from the same disk.
  let plan: BootDiskPlan | undefined;
  const data = vmDataStorage({
    caps,
    partition() {
      if (!plan) throw new Error(VM_NO_BOOT_DISK);
      return plan.data;
    },
  });
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
      path: espPath,
      async mount(log) {
        plan = await mountEsp(espPath, log);
      },
      // vfat marks itself dirty while mounted read-write; an unmount clears the mark.
      close: (log) => void (plan && leaveMount(espPath, log)),
    },
    data,
    tpm: (log) => openTpm({ device: o.tpmDevice ?? TPM_DEVICE }, log),
    // Boot control and kexec come from the update service over `slots` (node/core/update).
    power: {},
    slots: vmSlots(() => {
      if (!plan) throw new Error(VM_NO_BOOT_DISK);
      return plan.disk;
    }),
    workerHost: (nodeId) =>
      workerHost({ sharedCgroups: false, wireguard: caps.wireguard }, nodeId, o.procStatus),
  };
}
