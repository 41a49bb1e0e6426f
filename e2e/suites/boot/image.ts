/**
 * Shared fixtures of the boot suite: one image build per test process (kernel cached), disk
 * variants for the negative tests, and the console markers asserted on.
 * @module
 */
import { buildImage, type Image } from "../../../os-image/image.ts";
import { mkdisk } from "../../../os-image/disk/mkdisk.ts";
import { mkuki } from "../../../os-image/uki/mkuki.ts";
import { nodeCmdline, osRelease } from "../../../os-image/uki/cmdline.ts";
import { sign } from "../../../os-image/keys/sign.ts";

/** `E2E_TIMEOUT_SCALE` (testing.md §1): 3 on TCG unless overridden. */
export const SCALE = Number(Deno.env.get("E2E_TIMEOUT_SCALE") ?? "3");

/** /init's banner (os-image/init/init.c), printed as PID 1 from the verity root. */
export const INIT_BANNER = /init: Metropolis \S+ starting \(pid 1\)/;
/** OVMF's refusal of an image whose signature is not in db. */
export const FIRMWARE_REFUSAL = /Access Denied|Security Violation/;
/** OVMF giving up after refusals. */
export const NO_BOOT = /No bootable option or device was found/;
/** dm-verity detecting a corrupted data block (kernel error, shown under `quiet`). */
export const VERITY_DATA_ERROR = /device-mapper: verity: .*data block \d+ is corrupted/;
/** dm-verity detecting a wrong root hash (metadata block mismatch). */
export const VERITY_META_ERROR = /device-mapper: verity: .*metadata block \d+ is corrupted/;

let cached: Promise<Image> | undefined;

/** Builds the image once into a temp directory (the kernel comes from its cache). */
export function image(): Promise<Image> {
  cached ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "mkimg-boot-" });
    // Disk copies are large: drop them at exit unless E2E_KEEP is set (console logs for debugging).
    globalThis.addEventListener("unload", () => {
      if (!Deno.env.get("E2E_KEEP")) Deno.removeSync(dir, { recursive: true });
    });
    return await buildImage({ outDir: dir });
  })();
  return cached;
}

/** Writes a launcher disk with `uki` in the ESP and the image's system partition. */
export async function diskWith(img: Image, uki: string, name: string): Promise<string> {
  const out = `${img.outDir}/${name}.img`;
  await mkdisk(
    { ukiA: uki, system: img.system.img, seed: name },
    out,
    `${img.outDir}/work/${name}`,
  );
  return out;
}

/** A UKI for slot A whose command line carries `rootHash` instead of the real one. */
export async function ukiWithRootHash(
  img: Image,
  rootHash: string,
  signed: boolean,
): Promise<string> {
  const base = `${img.outDir}/work/roothash-${signed ? "signed" : "unsigned"}`;
  const commit = String(img.manifest.commit);
  await mkuki(
    {
      osrel: osRelease(String(img.manifest.version), commit),
      cmdline: nodeCmdline("a", { ...img.system, rootHash }),
      linux: `${img.outDir}/work/bzImage.signed`,
      epoch: Number(img.manifest.sourceDateEpoch),
    },
    `${base}.unsigned.efi`,
    `${base}.work`,
  );
  if (!signed) return `${base}.unsigned.efi`;
  await sign(`${base}.unsigned.efi`, `${base}.efi`);
  return `${base}.efi`;
}

/** Byte offset (in system.img) of the first data block of `path` in the erofs image. */
export async function erofsFileOffset(erofs: string, path: string): Promise<number> {
  const out = await new Deno.Command("dump.erofs", { args: [`--path=${path}`, "-e", erofs] })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  const m = /^\s*0:\s+\d+\.\.\s*\d+ \|\s*\d+ :\s+(\d+)\.\./m.exec(text);
  if (!out.success || !m) throw new Error(`dump.erofs: no extent for ${path}: ${text.trim()}`);
  return Number(m[1]);
}

/** Byte offset of the GPT partition `name` in `disk`. */
export async function partitionOffset(disk: string, name: string): Promise<number> {
  const out = await new Deno.Command("sgdisk", { args: ["--print", disk] }).output();
  const text = new TextDecoder().decode(out.stdout);
  for (const line of text.split("\n")) {
    const m = /^\s+\d+\s+(\d+)\s+\d+\s+.*\s(\S+)$/.exec(line);
    if (m && m[2] === name) return Number(m[1]) * 512;
  }
  throw new Error(`partition ${name} not found in ${disk}`);
}

/** Flips every bit of the byte at `offset` in `file`. */
export async function flipByte(file: string, offset: number): Promise<void> {
  const f = await Deno.open(file, { read: true, write: true });
  try {
    const b = new Uint8Array(1);
    await f.seek(offset, Deno.SeekMode.Start);
    await f.read(b);
    b[0] ^= 0xff;
    await f.seek(offset, Deno.SeekMode.Start);
    await f.write(b);
  } finally {
    f.close();
  }
}

/**
 * The agent's first console line (node/main.ts; DN `init`, concise console format of node.md §5:
 * the DN right-aligned, then the severity letter).
 */
export const AGENT_FIRST_LINE = /^\s*init I Metropolis agent starting \(platform vm, pid \d+\)/m;
/** The supervisor tree is up: the root runnable signalled Healthy (node/main.ts). */
export const AGENT_SUPERVISOR = /^\s*root I root runnable healthy/m;
