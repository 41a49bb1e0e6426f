/**
 * The pure part of an A/B update (node.md §16): which slot is written, which payloads go where,
 * and every check that can be made before a byte is written. The executor (install.ts) only
 * carries the plan out.
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import {
  type OsImage,
  PAYLOAD_NAMES,
  type PayloadInfo,
  requirePayloads,
  slotPayload,
} from "../../base/osimage/ociimage.ts";
import { bootEntryName, otherSlot, type Slot, slotUkiPath } from "../../base/osimage/slots.ts";
import { RpcError } from "../rpc/auth.ts";

/** What happens once the image is in place. */
export type Activation = "reboot" | "kexec" | "none";

/** A checked update. */
export interface UpdatePlan {
  /** The running slot, never written. */
  from: Slot;
  /** The slot written. */
  to: Slot;
  system: PayloadInfo;
  /** The UKI payload of the target slot (its command line names the target partition). */
  uki: PayloadInfo;
  /** ESP-relative path the UKI goes to. */
  ukiPath: string;
  /** Description of the target slot's boot entry. */
  bootEntry: string;
  activation: Activation;
}

/**
 * Plans writing `image` into the slot that is not running. Throws {@link RpcError}:
 * FAILED_PRECONDITION when the running slot is unknown, UNAVAILABLE when the image's payload set
 * differs from a node image's (`OS image lacks payload <name>`), RESOURCE_EXHAUSTED when the
 * system payload is larger than the slot.
 */
export function planUpdate(
  running: Slot | undefined,
  image: OsImage,
  slotBytes: number,
  activation: Activation,
): UpdatePlan {
  if (!running) {
    throw new RpcError(
      grpc.status.FAILED_PRECONDITION,
      "cannot determine the running slot from the kernel command line",
    );
  }
  try {
    requirePayloads(image, PAYLOAD_NAMES);
  } catch (e) {
    throw new RpcError(grpc.status.UNAVAILABLE, (e as Error).message);
  }
  for (const name of image.payloads.keys()) {
    if (!(PAYLOAD_NAMES as readonly string[]).includes(name)) {
      throw new RpcError(grpc.status.UNAVAILABLE, `OS image has unexpected payload ${name}`);
    }
  }
  const to = otherSlot(running);
  const system = image.payloads.get("system")!.info;
  if (system.size > slotBytes) {
    throw new RpcError(
      grpc.status.RESOURCE_EXHAUSTED,
      `system payload (${system.size} bytes) does not fit slot ${to.toUpperCase()} ` +
        `(${slotBytes} bytes)`,
    );
  }
  return {
    from: running,
    to,
    system,
    uki: image.payloads.get(slotPayload(to))!.info,
    ukiPath: slotUkiPath(to),
    bootEntry: bootEntryName(to),
    activation,
  };
}
