/**
 * Writing a node from the installer medium (image.md §11 steps 2, 4, 5): the OS image of the
 * medium's OCI layout, every payload verified chunk by chunk while it is written, onto the
 * target disk with the installer layout (GPT, slot A = `system`, ESP with
 * `EFI/BOOT/BOOTX64.EFI` and `EFI/metropolis/boot-a.efi` = `boot-a.efi`,
 * `metropolis/parameters.pb`), then the boot entry "Metropolis A" as the only BootOrder entry.
 * Slot B stays empty and so gets no UKI (`EFI/metropolis/boot-b.efi` appears once an update
 * writes slot B, image.md §7): the update service takes a slot UKI to mean the slot holds its
 * system, so a UKI over an empty slot would let `Reboot` with rollback and MarkBootSuccessful's
 * BootOrder send the firmware into a slot that cannot boot. Paths are injected: tests install
 * onto a sparse file with a temp directory as efivarfs.
 * @module
 */
import { BootEntries } from "../../base/efi/boot.ts";
import { EfiVars } from "../../base/efi/efivarfs.ts";
import { PAYLOAD_NAMES, requirePayloads, verifyChunks } from "../../base/osimage/ociimage.ts";
import { layoutSource } from "../../base/osimage/oci_layout.ts";
import { writeNodeDiskTo } from "../../base/osimage/nodedisk.ts";
import { INSTALLER_PATHS } from "../../base/osimage/slots.ts";
import { SlotBoot } from "../update/slotboot.ts";

/** Inputs of {@link installNode}. */
export interface InstallOptions {
  /** Root of the mounted installer medium. */
  medium: string;
  /** Target disk (block device or image file) and its size. */
  target: string;
  targetBytes: number;
  /** efivarfs directory (default `/sys/firmware/efi/efivars`); null: no boot entry (no EFI). */
  efivars?: string | null;
  log(line: string): void;
}

async function verifiedBytes(
  src: Awaited<ReturnType<typeof layoutSource>>,
  name: string,
): Promise<Uint8Array> {
  const info = src.image.payloads.get(name)!.info;
  const out = new Uint8Array(info.size);
  let off = 0;
  for await (const c of verifyChunks(await src.openPayload(name), info)) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Installs the medium's OS image onto the target; returns the boot entry number (if any). */
export async function installNode(o: InstallOptions): Promise<number | undefined> {
  const src = await layoutSource(`${o.medium}/${INSTALLER_PATHS.osImage}`);
  requirePayloads(src.image, PAYLOAD_NAMES);
  const parameters = await Deno.readFile(`${o.medium}/${INSTALLER_PATHS.nodeParams}`);
  const version = src.image.config.product_info.version;
  o.log(
    `installing Metropolis ${version} onto ${o.target} (${
      Math.floor(o.targetBytes / 2 ** 20)
    } MiB)`,
  );
  const ukiA = await verifiedBytes(src, "boot-a.efi");
  const system = src.image.payloads.get("system")!.info;
  const guid = () => crypto.randomUUID();
  const plan = await writeNodeDiskTo(o.target, {
    kind: "installer",
    sizeBytes: o.targetBytes,
    guids: {
      disk: guid(),
      partitions: { esp: guid(), systemA: guid(), systemB: guid(), data: guid() },
    },
    ukiA,
    parameters,
    system: {
      size: system.size,
      open: async () => verifyChunks(await src.openPayload("system"), system),
    },
    espVolumeId: crypto.getRandomValues(new Uint32Array(1))[0],
  });
  if (o.efivars === null) return undefined;
  const esp = plan.partitions[0];
  const entries = new BootEntries(new EfiVars(o.efivars));
  const boot = new SlotBoot(entries, {
    number: esp.index,
    startLba: BigInt(esp.firstLba),
    sizeLba: BigInt(esp.lastLba - esp.firstLba + 1),
    guid: esp.guid,
  });
  const n = await boot.entry("a");
  await entries.setOrder([n]);
  return n;
}
