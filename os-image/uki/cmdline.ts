/**
 * Kernel command lines and os-release text embedded in the UKIs (image.md §6).
 * @module
 */
import { type Verity, verityTable } from "../tools/mkverity.ts";

/** A/B system slot. */
export type Slot = "a" | "b";

/** GPT partition name of a system slot. */
export function systemPartLabel(slot: Slot): string {
  return `METROPOLIS-SYSTEM-${slot.toUpperCase()}`;
}

/** The node command line for `slot`, with the verity table of the system image. */
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
  ].join(" ");
}

/** The installer command line (boots from the initramfs). */
export function installerCmdline(): string {
  return "console=ttyS0,115200 console=tty0 quiet rdinit=/init metropolis.mode=installer panic=10";
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
