/**
 * Appends a dm-verity hash tree (SHA-256, 4 KiB blocks, no superblock, salt = SHA-256 of the
 * erofs image) to a copy of the erofs image, and builds the dm-verity table (image.md §5).
 * @module
 */
import { run } from "../lib/exec.ts";
import { sha256File } from "../lib/hash.ts";

import type { Verity } from "../../node/base/osimage/cmdline.ts";

export { type Verity, verityTable } from "../../node/base/osimage/cmdline.ts";

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

if (import.meta.main) {
  const [erofs, img] = Deno.args;
  if (!erofs || !img) {
    console.error("usage: mkverity.ts <system.erofs> <system.img>");
    Deno.exit(2);
  }
  console.log(JSON.stringify(await mkverity(erofs, img)));
}
