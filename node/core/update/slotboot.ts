/**
 * The EFI side of the A/B slots (image.md §7): boot entries "Metropolis A"/"Metropolis B" point
 * at `\EFI\metropolis\boot-<x>.efi` on the ESP (HD device path by the ESP's partition GUID).
 * BootNext selects a slot once — the firmware deletes it when it boots it — so a slot that
 * never reaches MarkBootSuccessful is left by the next reboot, whatever the reason (kernel
 * panic → `panic=10` reboots, hang → watchdog or operator reset). BootOrder = [booted, other]
 * makes a slot permanent.
 * @module
 */
import type { BootEntries } from "../../base/efi/boot.ts";
import type { BootPartition } from "../platform/platform.ts";
import { bootEntryName, otherSlot, type Slot, slotUkiEfiPath } from "../../base/osimage/slots.ts";

/** The ESP partition as a boot entry's HD node names it. */
export type EspPartitionRef = BootPartition;

/** Boot entry control of the two slots. */
export class SlotBoot {
  /** `esp`: the ESP partition, or how to find it (read once, on first use). */
  constructor(
    readonly entries: BootEntries,
    esp: EspPartitionRef | (() => Promise<EspPartitionRef>),
  ) {
    this.#esp = typeof esp === "function" ? esp : () => Promise.resolve(esp);
  }

  #esp: () => Promise<EspPartitionRef>;
  #espCached?: Promise<EspPartitionRef>;

  /** The boot entry number of `slot`, created or corrected as needed. */
  async entry(slot: Slot): Promise<number> {
    this.#espCached ??= this.#esp();
    const esp = await this.#espCached.catch((e) => {
      this.#espCached = undefined;
      throw e;
    });
    return await this.entries.ensure({
      description: bootEntryName(slot),
      filePath: [
        {
          kind: "hd",
          partitionNumber: esp.number,
          startLba: esp.startLba,
          sizeLba: esp.sizeLba,
          partitionGuid: esp.guid,
        },
        { kind: "file", path: slotUkiEfiPath(slot) },
      ],
    });
  }

  /** Boots `slot` once at the next firmware reboot. */
  async bootOnce(slot: Slot): Promise<void> {
    await this.entries.setNext(await this.entry(slot));
  }

  /**
   * Makes `booted` permanent: BootOrder = [booted, other (when it has an image)], other
   * entries after them. A pending BootNext stays (an update activated on the next reboot).
   */
  async makePermanent(booted: Slot, otherHasImage: boolean): Promise<void> {
    const first = await this.entry(booted);
    const ours = [first];
    if (otherHasImage) ours.push(await this.entry(otherSlot(booted)));
    const rest = (await this.entries.order()).filter((n) => !ours.includes(n));
    const order = [...ours, ...rest];
    if (JSON.stringify(order) !== JSON.stringify(await this.entries.order())) {
      await this.entries.setOrder(order);
    }
  }
}
