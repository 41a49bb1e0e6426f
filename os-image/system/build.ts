/**
 * The system image: staging tree from `rootfs/layout.json` → erofs → appended dm-verity tree
 * (image.md §3–§5).
 * @module
 */
import { sha256File } from "../lib/hash.ts";
import { mkerofs } from "../tools/mkerofs.ts";
import { mkverity, type Verity } from "../tools/mkverity.ts";
import { type LayoutEntry, parseLayout, stage, type StagedEntry } from "./stage.ts";

/** Inputs of {@link buildSystem}. */
export interface SystemInput {
  /** `build:<name>` artifacts: host paths or contents. */
  artifacts: Record<string, string | Uint8Array>;
  /** Entries appended to `rootfs/layout.json` (image variants; none for `core`). */
  extraLayout?: LayoutEntry[];
  /** SOURCE_DATE_EPOCH for erofs timestamps. */
  epoch: number;
  /** Output directory (gets `system.erofs`, `system.img`, `staging.json`). */
  outDir: string;
  /** Scratch directory for the staging tree. */
  work: string;
}

/** The built system image. */
export interface SystemImage extends Verity {
  /** erofs image path. */
  erofs: string;
  /** erofs + verity tree path. */
  img: string;
  /** erofs size in bytes. */
  erofsSize: number;
  /** Sum of the staged file sizes (uncompressed content). */
  contentSize: number;
  /** SHA-256 of `system.img`. */
  sha256: string;
  /** The erofs UUID. */
  erofsUuid: string;
  /** Staged entries. */
  entries: StagedEntry[];
  /** Debian packages used, name → version. */
  debianPackages: Record<string, string>;
}

const repo = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Builds `system.erofs` and `system.img` in `outDir`. */
export async function buildSystem(input: SystemInput): Promise<SystemImage> {
  const text = await Deno.readTextFile(`${repo}/os-image/rootfs/layout.json`);
  // Validated together: a variant entry must not repeat a path of the base layout.
  const extra = input.extraLayout ?? [];
  const layout = parseLayout(
    extra.length ? JSON.stringify({ entries: [...parseLayout(text), ...extra] }) : text,
  );
  const staging = `${input.work}/staging`;
  await Deno.remove(staging, { recursive: true }).catch(() => {});
  await Deno.mkdir(staging, { recursive: true });
  console.log("system: staging root tree");
  const staged = await stage(layout, input.artifacts, repo, staging);
  let contentSize = 0;
  for (const e of staged.entries) {
    if (e.kind === "file") contentSize += (await Deno.stat(staging + e.path)).size;
  }
  await Deno.mkdir(input.outDir, { recursive: true });
  await Deno.writeTextFile(
    `${input.outDir}/staging.json`,
    JSON.stringify(staged.entries, null, 1) + "\n",
  );
  const erofs = `${input.outDir}/system.erofs`;
  const img = `${input.outDir}/system.img`;
  console.log(`system: mkfs.erofs (${staged.entries.length} entries, ${contentSize} bytes)`);
  const erofsSize = await mkerofs(staging, erofs, { uuid: staged.uuid, epoch: input.epoch });
  console.log(`system: dm-verity over ${erofsSize} bytes`);
  const v = await mkverity(erofs, img);
  return {
    ...v,
    erofs,
    img,
    erofsSize,
    contentSize,
    sha256: await sha256File(img),
    erofsUuid: staged.uuid,
    entries: staged.entries,
    debianPackages: staged.debianPackages,
  };
}
