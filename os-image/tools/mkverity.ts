/**
 * Appends a dm-verity hash tree (SHA-256, 4 KiB blocks, no superblock, salt = SHA-256 of the
 * erofs image) to a copy of the erofs image, and builds the dm-verity table (image.md §5).
 * @module
 */
import { run } from "../lib/exec.ts";
import { sha256File } from "../lib/hash.ts";

/** The verity parameters of a system image. */
export interface Verity {
  /** Hex root hash. */
  rootHash: string;
  /** Hex salt. */
  salt: string;
  /** Number of 4 KiB data blocks (= the block where the hash tree starts). */
  dataBlocks: number;
  /** Size of `system.img` (data + tree) in bytes. */
  size: number;
}

/** Builds `img` = `erofs` + hash tree; returns the verity parameters. */
export async function mkverity(erofs: string, img: string): Promise<Verity> {
  const dataSize = (await Deno.stat(erofs)).size;
  if (dataSize === 0 || dataSize % 4096 !== 0) {
    throw new Error(`mkverity: ${erofs} is ${dataSize} bytes, not a positive multiple of 4096`);
  }
  const salt = await sha256File(erofs);
  await Deno.copyFile(erofs, img);
  const out = await run("veritysetup", [
    "format",
    "--hash=sha256",
    "--data-block-size=4096",
    "--hash-block-size=4096",
    "--no-superblock",
    `--salt=${salt}`,
    `--hash-offset=${dataSize}`,
    `--data-blocks=${dataSize / 4096}`,
    img,
    img,
  ]);
  const m = /Root hash:\s+([0-9a-f]{64})/.exec(out);
  if (!m) throw new Error(`mkverity: no root hash in veritysetup output: ${out.trim()}`);
  return { rootHash: m[1], salt, dataBlocks: dataSize / 4096, size: (await Deno.stat(img)).size };
}

/** The dm-verity table line for `dev` holding data and tree (image.md §5). */
export function verityTable(v: Verity, dev: string): string {
  const n = v.dataBlocks;
  return `0 ${n * 8} verity 1 ${dev} ${dev} 4096 4096 ${n} ${n} sha256 ${v.rootHash} ${v.salt}`;
}

if (import.meta.main) {
  const [erofs, img] = Deno.args;
  if (!erofs || !img) {
    console.error("usage: mkverity.ts <system.erofs> <system.img>");
    Deno.exit(2);
  }
  console.log(JSON.stringify(await mkverity(erofs, img)));
}
