/**
 * Kernel command lines and the os-release text of the UKIs (the OS-image contract, part 3).
 * Each slot has its own UKI because the stub cannot substitute the slot at boot; both carry the
 * same kernel and verity root hash. Under Secure Boot the stub uses the embedded command line, so
 * the root hash is covered by the UKI signature.
 * @module
 */
import { type Slot, systemPartLabel } from "./slots.ts";

/** The dm-verity parameters of a system image (data and hash tree on one device). */
export interface Verity {
  /** Hex root hash. */
  rootHash: string;
  /** Hex salt. */
  salt: string;
  /** Number of 4 KiB data blocks (= the block where the hash tree starts). */
  dataBlocks: number;
  /** Size of `system.img` (data + tree) in bytes. */
  size: number;
}

/** The dm-verity table line for `dev` holding data and tree. */
export function verityTable(v: Verity, dev: string): string {
  const n = v.dataBlocks;
  return `0 ${n * 8} verity 1 ${dev} ${dev} 4096 4096 ${n} ${n} sha256 ${v.rootHash} ${v.salt}`;
}

/**
 * Skips the kernel's IO-APIC timer-IRQ test at boot. Under emulation (QEMU TCG on a loaded host)
 * that test misjudges the timer ("MP-BIOS bug: 8254 timer not connected to IO-APIC") and the boot
 * hangs or panics ("IO-APIC + timer doesn't work!"); machines with a working timer lose nothing.
 */
export const NO_TIMER_CHECK = "no_timer_check";

/** The node command line for `slot`, with the verity table of its system image. */
export function nodeCmdline(slot: Slot, v: Verity): string {
  const dev = `PARTLABEL=${systemPartLabel(slot)}`;
  return [
    "console=ttyS0,115200",
    "console=tty0",
    "quiet",
    "rootfstype=erofs",
    "ro",
    "root=/dev/dm-0",
    "init=/init",
    `dm-mod.waitfor=${dev}`,
    `dm-mod.create="rootfs,,,ro,${verityTable(v, dev)}"`,
    "panic=10",
    "kernel.unknown_nmi_panic=1",
    NO_TIMER_CHECK,
  ].join(" ");
}

/** The `/proc/cmdline` flag that puts the agent into installer mode. */
export const INSTALLER_MODE_FLAG = "metropolis.mode=installer";

/** The installer command line (boots from the initramfs). */
export function installerCmdline(): string {
  return `console=ttyS0,115200 console=tty0 quiet rdinit=/init ${INSTALLER_MODE_FLAG} panic=10 ${NO_TIMER_CHECK}`;
}

/** Whether a kernel command line asks for installer mode. */
export function isInstallerCmdline(cmdline: string): boolean {
  return cmdline.split(/\s+/).includes(INSTALLER_MODE_FLAG);
}

/** The `.osrel` section text. */
export function osRelease(version: string, commit: string): string {
  return [
    'NAME="Metropolis"',
    "ID=metropolis-node",
    `VERSION_ID=${version}`,
    `PRETTY_NAME="Metropolis Node ${version}"`,
    `BUILD_ID=${commit}`,
    "",
  ].join("\n");
}
