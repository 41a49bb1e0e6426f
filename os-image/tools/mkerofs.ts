/**
 * `mkfs.erofs` with the reproducible flags of image.md §4 (lz4hc with 256 KiB physical clusters, fixed time, fixed UUID,
 * all files owned by root), followed by `fsck.erofs`.
 * @module
 */
import { run } from "../lib/exec.ts";

/** Largest compressed physical cluster in bytes. */
export const MAX_PCLUSTER = 262144;

/** Builds `out` from the staging directory `dir`; returns the image size in bytes. */
export async function mkerofs(
  dir: string,
  out: string,
  opts: { uuid: string; epoch: number },
): Promise<number> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(opts.uuid)) {
    throw new Error(`mkerofs: bad UUID ${JSON.stringify(opts.uuid)}`);
  }
  if (!Number.isInteger(opts.epoch) || opts.epoch < 0) {
    throw new Error(`mkerofs: bad SOURCE_DATE_EPOCH ${opts.epoch}`);
  }
  await Deno.remove(out).catch(() => {});
  await run("mkfs.erofs", [
    "-zlz4hc",
    // Physical clusters up to 256 KiB (kernel ≥ 5.13 reads them): lz4hc sees more context, which
    // shrinks the large Go binaries of the full image by about a fifth.
    `-C${MAX_PCLUSTER}`,
    `-T${opts.epoch}`,
    "-U",
    opts.uuid,
    "--all-root",
    out,
    dir,
  ], { env: { SOURCE_DATE_EPOCH: String(opts.epoch) } });
  await run("fsck.erofs", [out]);
  const size = (await Deno.stat(out)).size;
  if (size % 4096 !== 0) {
    throw new Error(`mkerofs: ${out} is ${size} bytes, not a multiple of 4096`);
  }
  return size;
}

if (import.meta.main) {
  const [dir, out, uuid, epoch] = Deno.args;
  if (!dir || !out || !uuid) {
    console.error("usage: mkerofs.ts <staging dir> <out> <uuid> [epoch]");
    Deno.exit(2);
  }
  console.log(await mkerofs(dir, out, { uuid, epoch: Number(epoch ?? 0) }));
}
