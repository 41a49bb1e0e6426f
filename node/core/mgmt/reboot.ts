/**
 * NodeManagement.Reboot (node.md §14): validates the request, prepares the next boot (A/B
 * rollback, firmware UI, kexec staging) while the client still waits so failures reach it, then
 * answers and performs the power action 2 s later so the response gets out first.
 */
import * as grpc from "@grpc/grpc-js";
import {
  type RebootRequest,
  RebootRequest_NextBoot as NextBoot,
  RebootRequest_Type as RebootType,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import type { LeveledLogger } from "../../base/logtree/logger.ts";
import type { Capabilities } from "../platform/platform.ts";
import { RpcError } from "../rpc/auth.ts";

/** What the node finally does; the agent maps it to `sync()` + `reboot(2)` (node/base/sys). */
export type PowerAction = "reboot" | "poweroff" | "kexec";

/** Performs a power action. On a real node it does not return; errors are logged. */
export type PowerFunction = (kind: PowerAction) => void | Promise<void>;

/** EFI boot control (efivarfs, node/base/efi) as far as Reboot needs it. */
export interface BootControl {
  /** Sets BootNext to the boot entry of the inactive slot (A/B rollback). */
  rollback(): Promise<void>;
  /** Whether the firmware can boot into its UI (OsIndicationsSupported has BOOT_TO_FW_UI). */
  firmwareUiSupported(): Promise<boolean>;
  /** Sets the BOOT_TO_FW_UI bit in OsIndications. */
  requestFirmwareUi(): Promise<void>;
}

/** Options of a {@link Rebooter}. */
export interface RebootOptions {
  /**
   * What the platform can do (node.md §3): without `kexec` TYPE_KEXEC is UNIMPLEMENTED; unless a
   * reboot restarts the `machine` there are no A/B slots to roll back to; without `efivars` no
   * firmware UI.
   */
  capabilities: Pick<Capabilities, "kexec" | "efivars" | "reboot">;
  power: PowerFunction;
  /** EFI boot control; absent on a VM means efivars are unavailable. */
  efi?: BootControl;
  /** Stages the active slot's kernel with `kexec_file_load`; absent means kexec is unavailable. */
  kexecLoad?: () => Promise<void>;
  /** Where `Reboot requested, …` goes (`root.mgmt`). */
  logger: LeveledLogger;
  /** Delay between the response and the power action (default 2000 ms). */
  delayMs?: number;
}

/** Delay between answering Reboot and acting. */
export const REBOOT_DELAY_MS = 2000;

function err(code: grpc.status, msg: string): RpcError {
  return new RpcError(code, msg);
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Handles Reboot requests of one node. */
export class Rebooter {
  readonly #o: RebootOptions;
  readonly #pending = new Set<Promise<void>>();

  /** See {@link RebootOptions}. */
  constructor(opts: RebootOptions) {
    this.#o = opts;
  }

  /**
   * Validates and prepares `req`, then schedules the power action and returns (the caller sends
   * the response). Throws {@link RpcError}: unknown type or next_boot → UNIMPLEMENTED;
   * FIRMWARE_UI with KEXEC → INVALID_ARGUMENT; kexec, rollback or firmware UI impossible on this
   * platform → UNIMPLEMENTED (capability absent, unsupported firmware) or UNAVAILABLE (attempt
   * failed).
   */
  async reboot(req: RebootRequest): Promise<void> {
    const o = this.#o;
    const caps = o.capabilities;
    let action: PowerAction;
    switch (req.type) {
      case RebootType.FIRMWARE:
        action = "reboot";
        break;
      case RebootType.KEXEC:
        action = "kexec";
        break;
      case RebootType.POWER_OFF:
        action = "poweroff";
        break;
      default:
        throw err(
          grpc.status.UNIMPLEMENTED,
          `reboot type ${req.type} is not implemented (use TYPE_FIRMWARE, TYPE_KEXEC or ` +
            `TYPE_POWER_OFF)`,
        );
    }
    if (NextBoot[req.nextBoot] === undefined) {
      // Upstream: a next_boot it does not know is UNIMPLEMENTED, like an unknown type.
      throw err(grpc.status.UNIMPLEMENTED, `unknown next_boot ${req.nextBoot}`);
    }
    if (action === "kexec" && req.nextBoot === NextBoot.START_FIRMWARE_UI) {
      throw err(
        grpc.status.INVALID_ARGUMENT,
        "NEXT_BOOT_START_FIRMWARE_UI cannot be combined with TYPE_KEXEC (kexec skips the firmware)",
      );
    }
    if (action === "kexec" && !caps.kexec) {
      throw err(grpc.status.UNIMPLEMENTED, "kexec is not available on this platform");
    }

    if (req.nextBoot === NextBoot.START_ROLLBACK) {
      if (caps.reboot !== "machine") {
        throw err(
          grpc.status.UNAVAILABLE,
          "rollback failed: no A/B slots (a reboot of this node does not restart a machine)",
        );
      }
      if (!o.efi) throw err(grpc.status.UNAVAILABLE, "rollback failed: efivars are unavailable");
      try {
        await o.efi.rollback();
      } catch (e) {
        throw err(grpc.status.UNAVAILABLE, `rollback failed: ${reason(e)}`);
      }
    }
    if (req.nextBoot === NextBoot.START_FIRMWARE_UI) {
      if (!caps.efivars || !o.efi) {
        throw err(
          grpc.status.UNIMPLEMENTED,
          "booting into the firmware UI is not possible: no efivars on this node",
        );
      }
      let supported: boolean;
      try {
        supported = await o.efi.firmwareUiSupported();
      } catch (e) {
        throw err(grpc.status.UNAVAILABLE, `reading OsIndicationsSupported failed: ${reason(e)}`);
      }
      if (!supported) {
        throw err(grpc.status.UNIMPLEMENTED, "the firmware does not support booting into its UI");
      }
      try {
        await o.efi.requestFirmwareUi();
      } catch (e) {
        throw err(grpc.status.UNAVAILABLE, `setting OsIndications failed: ${reason(e)}`);
      }
    }
    if (action === "kexec") {
      if (!o.kexecLoad) {
        throw err(grpc.status.UNAVAILABLE, "failed to stage kexec kernel: no kexec loader here");
      }
      try {
        await o.kexecLoad();
      } catch (e) {
        throw err(grpc.status.UNAVAILABLE, `failed to stage kexec kernel: ${reason(e)}`);
      }
    }
    this.schedule(action);
  }

  /** Resolves once every scheduled power action has run (tests). */
  async settled(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending]);
  }

  /** Logs `Reboot requested, …` and performs `action` after the delay (also UpdateNode's). */
  schedule(action: PowerAction): void {
    const o = this.#o;
    const delay = o.delayMs ?? REBOOT_DELAY_MS;
    const secs = `${delay / 1000}s`;
    o.logger.info(
      action === "poweroff"
        ? `Reboot requested (power off), powering off in ${secs}`
        : `Reboot requested, rebooting in ${secs}${action === "kexec" ? " via kexec" : ""}`,
    );
    // The timer is deliberately not tied to the runnable's context: the client was told the node
    // reboots, so a restart of the management service must not cancel it.
    const p = new Promise<void>((resolve) => setTimeout(resolve, delay)).then(async () => {
      try {
        await o.power(action);
      } catch (e) {
        o.logger.error(`power action ${action} failed: ${reason(e)}`);
      }
    }).finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }
}
