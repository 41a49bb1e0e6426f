/**
 * The update service (node.md §16) behind NodeManagement.UpdateNode and Reboot's rollback:
 * fetches the OS image by digest, plans, writes the inactive slot and its UKI, prepares the
 * activation (BootNext for `reboot` and `none`, a staged kexec for `kexec`), and after a
 * successful join makes the booted slot permanent (MarkBootSuccessful). One update at a time.
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import {
  ActivationMode,
  type UpdateNodeRequest,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import type { LeveledLogger } from "../../base/logtree/logger.ts";
import type { ImageSource } from "../../base/osimage/oci_layout.ts";
import type { ImageRef } from "../../base/oci/registry.ts";
import { ESP_PATHS, otherSlot, type Slot, slotUkiPath } from "../../base/osimage/slots.ts";
import { writeFileDurable } from "../../base/sys/durable.ts";
import { RpcError } from "../rpc/auth.ts";
import { installPlan, type InstallTargets } from "./install.ts";
import type { Activation } from "./plan.ts";
import type { SlotBoot } from "./slotboot.ts";

/** Options of an {@link UpdateService}. */
export interface UpdateServiceOptions {
  targets: InstallTargets;
  /** The slot this kernel booted (from `/proc/cmdline`); undefined: not an A/B boot. */
  runningSlot: () => Slot | undefined;
  /** Boot entries; absent: no efivars, so no BootNext/BootOrder (reboot activation fails). */
  slotBoot?: SlotBoot;
  /** Stages a UKI for kexec; absent: kexec activation is unavailable. */
  kexecLoad?: (ukiPath: string) => Promise<void>;
  /** Fetches an image (default: {@link RegistryClient}). */
  fetchImage?: (ref: ImageRef, signal: AbortSignal) => Promise<ImageSource>;
  /** Download time limit (default 15 min). */
  timeoutMs?: number;
  logger: LeveledLogger;
}

const MODES: Partial<Record<ActivationMode, Activation>> = {
  [ActivationMode.NONE]: "none",
  [ActivationMode.REBOOT]: "reboot",
  [ActivationMode.KEXEC]: "kexec",
};

function oneLine(e: unknown): string {
  return ((e as Error)?.message ?? String(e)).split("\n")[0].slice(0, 300);
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

/** A/B updates of one node. */
export class UpdateService {
  readonly #o: UpdateServiceOptions;
  #busy = false;

  constructor(o: UpdateServiceOptions) {
    this.#o = o;
  }

  /**
   * Handles UpdateNode: returns the power action the caller schedules after answering
   * (`none` for ACTIVATION_MODE_NONE). Throws {@link RpcError}: INVALID_ARGUMENT (activation
   * mode unset, reference missing or malformed), ABORTED (another update runs),
   * UNAVAILABLE (fetch, digest, payload checks, writing), RESOURCE_EXHAUSTED (slot or ESP too
   * small), FAILED_PRECONDITION (not booted from a slot).
   */
  async update(req: UpdateNodeRequest): Promise<Activation> {
    const activation = MODES[req.activationMode];
    if (!activation) {
      throw new RpcError(grpc.status.INVALID_ARGUMENT, "activation_mode must be set");
    }
    const r = req.osImage;
    if (!r) throw new RpcError(grpc.status.INVALID_ARGUMENT, "os_image must be set");
    const ref: ImageRef = {
      scheme: r.scheme,
      host: r.host,
      repository: r.repository,
      tag: r.tag,
      digest: r.digest,
    };
    if (this.#busy) {
      throw new RpcError(grpc.status.ABORTED, "another UpdateNode is already running");
    }
    this.#busy = true;
    try {
      return await this.#update(ref, activation);
    } finally {
      this.#busy = false;
    }
  }

  async #update(ref: ImageRef, activation: Activation): Promise<Activation> {
    const o = this.#o;
    const log = o.logger;
    if (activation !== "kexec" && !o.slotBoot) {
      throw new RpcError(
        grpc.status.UNAVAILABLE,
        "efivars are unavailable: cannot select the new slot",
      );
    }
    if (activation === "kexec" && !o.kexecLoad) {
      throw new RpcError(grpc.status.UNAVAILABLE, "kexec is not available on this node");
    }
    // The OCI client and the planner bring the OS image schemas (zod, ≈ 2 MB of V8 heap): loaded
    // by the first update, not kept by every agent from its start (testing.md §5 `rss`).
    const [{ RegistryClient, RegistryError }, { planUpdate }] = await Promise.all([
      import("../../base/oci/registry.ts"),
      import("./plan.ts"),
    ]);
    const t0 = performance.now();
    const where = `${ref.scheme}://${ref.host}/${ref.repository}@${ref.digest}`;
    const signal = AbortSignal.timeout(o.timeoutMs ?? 15 * 60_000);
    let img: ImageSource;
    try {
      img = await (o.fetchImage ?? ((r, s) => new RegistryClient(r, { signal: s }).fetchImage()))(
        ref,
        signal,
      );
    } catch (e) {
      const code = e instanceof RegistryError && e.kind === "invalid"
        ? grpc.status.INVALID_ARGUMENT
        : grpc.status.UNAVAILABLE;
      throw new RpcError(code, `failed to fetch OS image: ${oneLine(e)}`);
    }
    const running = o.runningSlot();
    let slotBytes = 0;
    if (running) {
      try {
        slotBytes = await o.targets.slotSize(otherSlot(running));
      } catch (e) {
        throw new RpcError(grpc.status.UNAVAILABLE, `inactive slot unavailable: ${oneLine(e)}`);
      }
    }
    const plan = planUpdate(running, img.image, slotBytes, activation);
    const version = img.image.config.product_info.version;
    log.info(`Installing OS image ${version} (${where}) into slot ${plan.to.toUpperCase()}`);
    let next = 10;
    await installPlan(img, plan, o.targets, (bytes) => {
      const pct = Math.floor((bytes / plan.system.size) * 100);
      if (pct >= next) {
        log.info(`slot ${plan.to.toUpperCase()}: ${pct}% of system written`);
        next = pct - (pct % 10) + 10;
      }
    });
    const ukiPath = `${o.targets.espPath}/${plan.ukiPath}`;
    try {
      if (activation === "kexec") await o.kexecLoad!(ukiPath);
      else await o.slotBoot!.bootOnce(plan.to);
    } catch (e) {
      throw new RpcError(
        grpc.status.UNAVAILABLE,
        `activating slot ${plan.to.toUpperCase()} failed: ${oneLine(e)}`,
      );
    }
    log.info(
      `Installed OS image ${version} into slot ${plan.to.toUpperCase()} in ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s; activation: ${activation}`,
    );
    return activation;
  }

  /**
   * MarkBootSuccessful (after a successful join): BootOrder = [booted, other] and
   * `EFI/BOOT/BOOTX64.EFI` = the booted slot's UKI, so firmware without entries boots it too.
   */
  async markBootSuccessful(): Promise<void> {
    const o = this.#o;
    const booted = o.runningSlot();
    if (!booted) {
      o.logger.info("MarkBootSuccessful: not booted from an A/B slot, nothing to do");
      return;
    }
    const esp = o.targets.espPath;
    const bootedUki = `${esp}/${slotUkiPath(booted)}`;
    const otherHasImage = await exists(`${esp}/${slotUkiPath(otherSlot(booted))}`);
    if (o.slotBoot) await o.slotBoot.makePermanent(booted, otherHasImage);
    if (await exists(bootedUki)) {
      const fallback = `${esp}/${ESP_PATHS.defaultBoot}`;
      const [a, b] = await Promise.all([
        Deno.readFile(bootedUki),
        Deno.readFile(fallback).catch(() => new Uint8Array(0)),
      ]);
      if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
        await writeFileDurable(fallback, a, { mode: 0o644 });
      }
    }
    o.logger.info(`Boot from slot ${booted.toUpperCase()} marked successful`);
  }

  /** Reboot's `NEXT_BOOT_START_ROLLBACK`: BootNext = the other slot, which must hold an image. */
  async rollback(): Promise<void> {
    const o = this.#o;
    const booted = o.runningSlot();
    if (!booted) throw new Error("not booted from an A/B slot");
    if (!o.slotBoot) throw new Error("efivars are unavailable");
    const other = otherSlot(booted);
    if (!(await exists(`${o.targets.espPath}/${slotUkiPath(other)}`))) {
      throw new Error(`slot ${other.toUpperCase()} holds no image`);
    }
    await o.slotBoot.bootOnce(other);
    o.logger.warning(`Rollback requested: next boot from slot ${other.toUpperCase()}`);
  }

  /** Reboot TYPE_KEXEC: stages the running slot's UKI. */
  async kexecLoadRunning(): Promise<void> {
    const booted = this.#o.runningSlot();
    if (!booted) throw new Error("not booted from an A/B slot");
    if (!this.#o.kexecLoad) throw new Error("no kexec loader here");
    await this.#o.kexecLoad(`${this.#o.targets.espPath}/${slotUkiPath(booted)}`);
  }
}
