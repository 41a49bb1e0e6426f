/**
 * The update service of a running agent, assembled from what the Platform offers (node.md §3):
 * its A/B slots and ESP, efivars (boot entries) and kexec — each used only when the platform
 * says it has it. Also the Reboot-side boot control (rollback, firmware UI) and the kexec loader
 * of the running slot for NodeManagement.
 * @module
 */
import type { LeveledLogger } from "../../base/logtree/logger.ts";
import { BootEntries } from "../../base/efi/boot.ts";
import { EfiVars } from "../../base/efi/efivarfs.ts";
import { kexecLoadUki } from "../../base/kexec/kexec.ts";
import { slotFromCmdline } from "../../base/osimage/slots.ts";
import type { BootControl } from "../mgmt/reboot.ts";
import type { Platform } from "../platform/platform.ts";
import { openSlotPath } from "./install.ts";
import { SlotBoot } from "./slotboot.ts";
import { UpdateService } from "./service.ts";

/** The update service and the Reboot helpers of a node. */
export interface NodeUpdate {
  service: UpdateService;
  /** Reboot's EFI control (absent without efivars). */
  bootControl?: BootControl;
  /** Reboot TYPE_KEXEC's loader (absent without kexec). */
  kexecLoad?: () => Promise<void>;
}

/**
 * The update service for `platform`, or undefined when it has no A/B slots. `cmdline` is the
 * kernel command line (default: `/proc/cmdline`), `efivars` the efivarfs directory.
 */
export function nodeUpdate(
  platform: Pick<Platform, "capabilities" | "esp" | "slots">,
  logger: LeveledLogger,
  o: { cmdline?: () => string; efivars?: string } = {},
): NodeUpdate | undefined {
  const slots = platform.slots;
  if (!slots) return undefined;
  const caps = platform.capabilities;
  const entries = caps.efivars ? new BootEntries(new EfiVars(o.efivars)) : undefined;
  const cmdline = o.cmdline ?? (() => Deno.readTextFileSync("/proc/cmdline"));
  const service = new UpdateService({
    targets: {
      espPath: platform.esp.path,
      openSlot: async (s) => openSlotPath(await slots.systemDevice(s)),
      slotSize: async (s) => {
        const d = await openSlotPath(await slots.systemDevice(s));
        d.close();
        return d.sizeBytes;
      },
    },
    runningSlot: () => slotFromCmdline(cmdline()),
    slotBoot: entries ? new SlotBoot(entries, () => slots.espPartition()) : undefined,
    kexecLoad: caps.kexec ? kexecLoadUki : undefined,
    logger,
  });
  return {
    service,
    bootControl: entries
      ? {
        rollback: () => service.rollback(),
        firmwareUiSupported: () => entries.firmwareUiSupported(),
        requestFirmwareUi: () => entries.requestFirmwareUi(),
      }
      : undefined,
    kexecLoad: caps.kexec ? () => service.kexecLoadRunning() : undefined,
  };
}
