/**
 * The installer medium (image.md §10, metroctl.md §4.5): GPT with one EFI System partition
 * `MetropolisInstaller` at 1 MiB, 512 MiB, FAT32 `METRO_INST` holding `EFI/BOOT/BOOTX64.EFI`,
 * `metropolis-installer/nodeparams.pb` and `metropolis-installer/osimage/` (OCI layout). Built
 * with sgdisk, mkfs.fat and mtools (installed by .ci/setup), then copied to the target.
 */
import { join } from "node:path";

/** Size of an image file target: 1 MiB + 512 MiB partition + 1 MiB for the backup GPT. */
export const IMAGE_SIZE = 538_968_064;
const MIB = 1024 * 1024;
const PART_OFFSET = MIB;
const PART_SIZE = 512 * MIB;

/** What goes onto the medium. */
export interface InstallerContents {
  /** Path of the installer UKI. */
  installer: string;
  /** Binary NodeParameters. */
  nodeParams: Uint8Array;
  /** Directory of the OS image in OCI layout. */
  osImage: string;
}

async function tool(cmd: string, args: string[]): Promise<void> {
  let out;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    throw new Error(`${cmd}: ${(e as Error).message} (installed by .ci/setup)`);
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop();
    throw new Error(`${cmd} ${args[0]}: ${err || `exit ${out.code}`}`);
  }
}

/** The OCI layout manifest's payload layers: title → blob path. */
export async function ociPayloads(dir: string): Promise<Map<string, string>> {
  const blob = (digest: string) => join(dir, "blobs", ...digest.split(":"));
  const index = JSON.parse(await Deno.readTextFile(join(dir, "index.json")));
  const desc = index.manifests?.[0];
  if (!desc?.digest) throw new Error(`${dir}/index.json lists no manifest`);
  const manifest = JSON.parse(await Deno.readTextFile(blob(desc.digest)));
  const out = new Map<string, string>();
  for (const l of manifest.layers ?? []) {
    const title = l.annotations?.["org.opencontainers.image.title"];
    if (title) out.set(title, blob(l.digest));
  }
  return out;
}

/** Writes the medium to `target` (file: created/overwritten at {@link IMAGE_SIZE}; or device). */
export async function writeInstallerMedium(
  target: string,
  c: InstallerContents,
  progress: (percent: number) => void,
): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "metroctl-genusb-" });
  try {
    // The FAT32 filesystem, built in a scratch file.
    const fat = join(tmp, "fat.img");
    await tool("mkfs.fat", ["-F", "32", "-n", "METRO_INST", "-C", fat, String(PART_SIZE / 1024)]);
    const params = join(tmp, "nodeparams.pb");
    await Deno.writeFile(params, c.nodeParams);
    for (const d of ["::EFI", "::EFI/BOOT", "::metropolis-installer"]) {
      await tool("mmd", ["-i", fat, d]);
    }
    await tool("mcopy", ["-i", fat, c.installer, "::EFI/BOOT/BOOTX64.EFI"]);
    await tool("mcopy", ["-i", fat, params, "::metropolis-installer/nodeparams.pb"]);
    await tool("mcopy", ["-s", "-i", fat, c.osImage, "::metropolis-installer/osimage"]);

    // The partition table on the target.
    let isFile = true;
    try {
      const st = await Deno.stat(target);
      isFile = st.isFile;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (isFile) {
      // A fresh sparse file: regions never written read as zeros.
      const f = await Deno.open(target, { write: true, create: true, truncate: true });
      await f.truncate(IMAGE_SIZE);
      f.close();
    }
    await tool("sgdisk", [
      "--clear",
      `--new=1:${PART_OFFSET / 512}:+${PART_SIZE / MIB}M`,
      "--typecode=1:ef00",
      "--change-name=1:MetropolisInstaller",
      target,
    ]);

    // Copy the filesystem into the partition.
    const src = await Deno.open(fat, { read: true });
    const dst = await Deno.open(target, { write: true });
    try {
      const buf = new Uint8Array(4 * MIB);
      let done = 0;
      let reported = 0;
      while (done < PART_SIZE) {
        let n = 0;
        while (n < buf.length) {
          const r = await src.read(buf.subarray(n));
          if (r === null) break;
          n += r;
        }
        if (n === 0) break;
        const chunk = buf.subarray(0, n);
        // Zero chunks of a fresh file stay holes; a device gets every byte.
        if (!isFile || chunk.some((b) => b !== 0)) {
          await dst.seek(PART_OFFSET + done, Deno.SeekMode.Start);
          let w = 0;
          while (w < n) w += await dst.write(chunk.subarray(w));
        }
        done += n;
        const pct = Math.floor((done / PART_SIZE) * 10) * 10;
        if (pct > reported) {
          reported = pct;
          progress(pct);
        }
      }
      await dst.syncData();
    } finally {
      src.close();
      dst.close();
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}
