/**
 * The executor of an update plan (node.md §16): streams the `system` payload through chunk
 * verification into the inactive slot's block device, the target UKI into a temporary file on
 * the ESP (renamed into place only once complete and verified), and syncs. Only verified chunks
 * are written, only the inactive slot and its UKI are touched; a failure leaves the running slot
 * and its boot entry as they were. Devices and the ESP are injected, so tests run it against
 * plain files.
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import type { DiskWriter } from "../../base/blockdev/gpt_write.ts";
import type { ImageSource } from "../../base/osimage/oci_layout.ts";
import type { PayloadInfo } from "../../base/osimage/ociimage.ts";
import { mkdirDurable, syncDir } from "../../base/sys/durable.ts";
import { RpcError } from "../rpc/auth.ts";
import type { UpdatePlan } from "./plan.ts";

/** An open system slot. */
export interface SlotDevice {
  sizeBytes: number;
  writer: DiskWriter;
  /** fsync of the device. */
  sync(): Promise<void>;
  close(): void;
}

/** What the executor writes to. */
export interface InstallTargets {
  /** Opens the block device of the target slot for writing. */
  openSlot(slot: UpdatePlan["to"]): Promise<SlotDevice>;
  /** Size of a slot's partition in bytes. */
  slotSize(slot: UpdatePlan["to"]): Promise<number>;
  /** Mount point of the ESP. */
  espPath: string;
}

function isNoSpace(e: unknown): boolean {
  const m = (e as Error)?.message ?? "";
  return (e as { code?: string })?.code === "ENOSPC" ||
    /No space left on device|os error 28/.test(m);
}

function failure(what: string, e: unknown): RpcError {
  if (e instanceof RpcError) return e;
  const msg = `${what}: ${((e as Error)?.message ?? String(e)).split("\n")[0]}`;
  return new RpcError(isNoSpace(e) ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.UNAVAILABLE, msg);
}

async function* verified(img: ImageSource, info: PayloadInfo): AsyncGenerator<Uint8Array> {
  // Loaded by the first update: the OS image module's schemas (zod) would otherwise stay in
  // every agent's heap, since node.ts needs openSlotPath from here (testing.md §5 `rss`).
  const { verifyChunks } = await import("../../base/osimage/ociimage.ts");
  yield* verifyChunks(await img.openPayload(info.name), info);
}

/** Writes the system payload into the target slot. */
export async function writeSystem(
  img: ImageSource,
  plan: UpdatePlan,
  t: InstallTargets,
  onProgress?: (bytes: number) => void,
): Promise<void> {
  let dev: SlotDevice;
  try {
    dev = await t.openSlot(plan.to);
  } catch (e) {
    throw failure(`opening slot ${plan.to.toUpperCase()}`, e);
  }
  try {
    if (plan.system.size > dev.sizeBytes) {
      throw new RpcError(
        grpc.status.RESOURCE_EXHAUSTED,
        `system payload (${plan.system.size} bytes) does not fit slot ${plan.to.toUpperCase()} ` +
          `(${dev.sizeBytes} bytes)`,
      );
    }
    let off = 0;
    for await (const chunk of verified(img, plan.system)) {
      await dev.writer.write(off, chunk);
      off += chunk.length;
      onProgress?.(off);
    }
    await dev.sync();
  } catch (e) {
    throw failure(`writing slot ${plan.to.toUpperCase()}`, e);
  } finally {
    dev.close();
  }
}

/**
 * Writes the target UKI to the ESP as `writeFileDurable` would (temporary file, fsync,
 * rename, fsync of the directory), streamed: the UKI is verified while it is written.
 */
export async function writeUki(
  img: ImageSource,
  plan: UpdatePlan,
  t: InstallTargets,
): Promise<void> {
  const dst = `${t.espPath}/${plan.ukiPath}`;
  const tmp = `${dst}.new`;
  try {
    const dir = dst.slice(0, dst.lastIndexOf("/"));
    await mkdirDurable(dir, 0o755);
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      for await (const chunk of verified(img, plan.uki)) {
        let done = 0;
        while (done < chunk.length) done += await f.write(chunk.subarray(done));
      }
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, dst);
    await syncDir(dir);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw failure(`writing ${plan.ukiPath}`, e);
  }
}

/** Carries out the writing part of `plan`: system into the slot, then its UKI. */
export async function installPlan(
  img: ImageSource,
  plan: UpdatePlan,
  t: InstallTargets,
  onProgress?: (bytes: number) => void,
): Promise<void> {
  // The target slot's old UKI goes first: it must never be paired with a half-written or newer
  // system partition (its root hash would not match); without it the slot is simply empty.
  try {
    await Deno.remove(`${t.espPath}/${plan.ukiPath}`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw failure(`removing ${plan.ukiPath}`, e);
  }
  await writeSystem(img, plan, t, onProgress);
  await writeUki(img, plan, t);
}

/** A {@link SlotDevice} over a file or block device path (the agent; tests use files). */
export async function openSlotPath(path: string): Promise<SlotDevice> {
  const f = await Deno.open(path, { write: true });
  const size = await f.seek(0, Deno.SeekMode.End);
  return {
    sizeBytes: size,
    writer: {
      async write(offset, bytes) {
        if (offset + bytes.length > size) {
          throw new RpcError(grpc.status.RESOURCE_EXHAUSTED, `write past the end of ${path}`);
        }
        await f.seek(offset, Deno.SeekMode.Start);
        let done = 0;
        while (done < bytes.length) done += await f.write(bytes.subarray(done));
      },
    },
    sync: () => f.syncData(),
    close: () => f.close(),
  };
}
