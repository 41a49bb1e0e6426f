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
import { bootEntryName, otherSlot, type Slot, slotUkiEfiPath } from "../../base/osimage/slots.ts";

/** The ESP partition as a boot entry's HD node names it. */
export interface EspPartitionRef {
  /** 1-based GPT entry index. */
  number: number;
  startLba: bigint;
  sizeLba: bigint;
  /** Unique partition GUID. */
  guid: string;
}

/** Boot entry control of the two slots. */
export class SlotBoot {
  constructor(readonly entries: BootEntries, readonly esp: EspPartitionRef) {}

  /** The boot entry number of `slot`, created or corrected as needed. */
  entry(slot: Slot): Promise<number> {
    return this.entries.ensure({
      description: bootEntryName(slot),
      filePath: [
        {
          kind: "hd",
          partitionNumber: this.esp.number,
          startLba: this.esp.startLba,
          sizeLba: this.esp.sizeLba,
          partitionGuid: this.esp.guid,
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
