/**
 * A/B slots and the files on the ESP and the installer medium (the OS-image contract, part 2).
 *
 * ESP (paths relative to its root): `EFI/BOOT/BOOTX64.EFI` is the UKI of the slot that last
 * booted successfully (what firmware without boot entries starts), `EFI/metropolis/boot-a.efi`
 * and `boot-b.efi` the UKIs of the slots, `metropolis/parameters.pb` the node parameters. Boot
 * entries "Metropolis A"/"Metropolis B" point at the slot UKIs; BootNext selects a slot once
 * (update, rollback), BootOrder = [active, other] makes it permanent.
 * @module
 */
import { PARTITION_NAMES } from "./layout.ts";

/** A system slot. */
export type Slot = "a" | "b";

/** Both slots, A first. */
export const SLOTS: readonly Slot[] = Object.freeze(["a", "b"]);

/** The other slot. */
export function otherSlot(s: Slot): Slot {
  return s === "a" ? "b" : "a";
}

/** GPT partition name of a system slot (`METROPOLIS-SYSTEM-A`). */
export function systemPartLabel(slot: Slot): string {
  return slot === "a" ? PARTITION_NAMES.systemA : PARTITION_NAMES.systemB;
}

/** The partition role of a slot (for the type GUID). */
export function slotRole(slot: Slot): "systemA" | "systemB" {
  return slot === "a" ? "systemA" : "systemB";
}

/** Description of a slot's EFI boot entry (`Metropolis A`). */
export function bootEntryName(slot: Slot): string {
  return `Metropolis ${slot.toUpperCase()}`;
}

/** Files on the node ESP, relative to its root, `/`-separated. */
export const ESP_PATHS = Object.freeze({
  /** The firmware's default boot path: the UKI of the last successfully booted slot. */
  defaultBoot: "EFI/BOOT/BOOTX64.EFI",
  /** NodeParameters. */
  parameters: "metropolis/parameters.pb",
  /** ClusterDirectory (rewritten by the hostsfile service). */
  clusterDirectory: "metropolis/cluster_directory.pb",
  /** Copy of the node's network configuration. */
  networkConfiguration: "metropolis/network_configuration.pb",
  /** SealedConfigurationFile. */
  sealedConfiguration: "metropolis/sealed_configuration.pb",
});

/** ESP path of a slot's UKI (`EFI/metropolis/boot-a.efi`). */
export function slotUkiPath(slot: Slot): string {
  return `EFI/metropolis/boot-${slot}.efi`;
}

/** The UEFI file path of a slot's UKI as a boot entry names it (`\EFI\metropolis\boot-a.efi`). */
export function slotUkiEfiPath(slot: Slot): string {
  return "\\" + slotUkiPath(slot).replaceAll("/", "\\");
}

/** Files on the installer medium's FAT partition. */
export const INSTALLER_PATHS = Object.freeze({
  /** The installer UKI at the firmware's default boot path. */
  boot: "EFI/BOOT/BOOTX64.EFI",
  /** NodeParameters for the node to be installed. */
  nodeParams: "metropolis-installer/nodeparams.pb",
  /** The OS image (OCI layout directory). */
  osImage: "metropolis-installer/osimage",
});

const SLOT_IN_CMDLINE = /(?:^|\s)dm-mod\.waitfor=PARTLABEL=METROPOLIS-SYSTEM-([AB])(?:\s|$)/;

/**
 * The slot a node kernel command line boots (from `dm-mod.waitfor=PARTLABEL=…`); undefined for
 * any other command line (installer, namespace node).
 */
export function slotFromCmdline(cmdline: string): Slot | undefined {
  const m = SLOT_IN_CMDLINE.exec(cmdline);
  return m ? (m[1].toLowerCase() as Slot) : undefined;
}
