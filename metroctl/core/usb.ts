/**
 * The installer medium (image.md §10, metroctl.md §4.5): GPT with one EFI System partition
 * `MetropolisInstaller` at 1 MiB, 512 MiB, FAT32 `METRO_INST` holding `EFI/BOOT/BOOTX64.EFI`,
 * `metropolis-installer/nodeparams.pb` and `metropolis-installer/osimage/` (OCI layout). Layout
 * and paths come from the OS-image contract (`node/base/osimage`); the GPT and the filesystem
 * are written by `node/base/blockdev` and `node/base/fat32` straight onto the target.
 */
import { fileWriter, planGpt, writeGpt } from "../../node/base/blockdev/gpt_write.ts";
import { PARTITION_TYPES } from "../../node/base/blockdev/parttypes.ts";
import { addHostTree, FatDir, writeFat32 } from "../../node/base/fat32/fat32.ts";
import { INSTALLER_MEDIUM, MiB } from "../../node/base/osimage/layout.ts";
import { readOsImageLayout } from "../../node/base/osimage/oci_layout.ts";
import { INSTALLER_PATHS } from "../../node/base/osimage/slots.ts";

/** Size of an image file target: 1 MiB + 512 MiB partition + 1 MiB for the backup GPT. */
export const IMAGE_SIZE = INSTALLER_MEDIUM.imageBytes;

/** What goes onto the medium. */
export interface InstallerContents {
  /** Path of the installer UKI. */
  installer: string;
  /** Binary NodeParameters. */
  nodeParams: Uint8Array;
  /** Directory of the OS image in OCI layout. */
  osImage: string;
}

/** The OCI layout's payloads: name → blob path (the layout is checked against its digests). */
export async function ociPayloads(dir: string): Promise<Map<string, string>> {
  const l = await readOsImageLayout(dir);
  return new Map([...l.image.payloads.keys()].map((n) => [n, l.payloadPath(n)!]));
}

function randomGuid(): string {
  return crypto.randomUUID();
}

/** Writes the medium to `target` (file: created/overwritten at {@link IMAGE_SIZE}; or device). */
export async function writeInstallerMedium(
  target: string,
  c: InstallerContents,
  progress: (percent: number) => void,
): Promise<void> {
  const root = new FatDir()
    .file(INSTALLER_PATHS.boot, { path: c.installer })
    .file(INSTALLER_PATHS.nodeParams, c.nodeParams);
  await addHostTree(root, INSTALLER_PATHS.osImage, c.osImage);

  let isFile = true;
  try {
    isFile = (await Deno.stat(target)).isFile;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  // A file is recreated sparse: regions never written read as zeros.
  const f = await Deno.open(target, { write: true, create: isFile, truncate: isFile });
  try {
    const size = isFile ? IMAGE_SIZE : await f.seek(0, Deno.SeekMode.End);
    if (isFile) await f.truncate(IMAGE_SIZE);
    const plan = planGpt({
      diskSizeBytes: size,
      diskGuid: randomGuid(),
      firstOffsetBytes: INSTALLER_MEDIUM.offsetBytes,
      partitions: [{
        name: INSTALLER_MEDIUM.partitionName,
        type: PARTITION_TYPES.esp,
        guid: randomGuid(),
        sizeBytes: INSTALLER_MEDIUM.sizeMiB * MiB,
      }],
    });
    const w = fileWriter(f);
    const part = plan.partitions[0];
    let reported = 0;
    await writeFat32({ write: (o, b) => w.write(part.offsetBytes + o, b) }, root, {
      sizeBytes: INSTALLER_MEDIUM.sizeMiB * MiB,
      label: INSTALLER_MEDIUM.label,
      volumeId: crypto.getRandomValues(new Uint32Array(1))[0],
      hiddenSectors: part.firstLba,
      onProgress: (done, total) => {
        // One line per 10 % step, also when one write crosses several.
        const pct = Math.floor((done / total) * 10) * 10;
        while (reported < pct) {
          reported += 10;
          progress(reported);
        }
      },
    });
    await writeGpt(w, plan);
    await f.syncData();
  } finally {
    f.close();
  }
}
