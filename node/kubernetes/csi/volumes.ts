/**
 * The volume directories below `/data/volumes` (kubernetes.md §11): created with a project quota
 * of the requested size, resized by raising the quota, deleted with their quota. Where the
 * filesystem has no enforced project quotas (`quotas: false`, e.g. a namespace node on a kernel
 * without XFS quota support) the directories are created and deleted the same way but their size
 * is not enforced; the provisioner reports that on the claim.
 */
import { removeQuota, setQuota } from "../../base/fsquota/fsquota.ts";
import { BYTES_PER_INODE } from "./provision.ts";
import { checkVolumeId } from "./publish.ts";

/** Where volumes live and whether their quotas are enforced. */
export interface VolumeDirs {
  dir: string;
  quotas: boolean;
}

function pathOf(v: VolumeDirs, volume: string): string {
  checkVolumeId(volume);
  return `${v.dir}/${volume}`;
}

/**
 * Creates volume `volume` with a quota of `bytes` (and one inode per {@link BYTES_PER_INODE}).
 * Idempotent for an empty directory (a retried provisioning); a directory that already holds
 * data is refused, so a volume is never handed out twice.
 */
export async function createVolume(v: VolumeDirs, volume: string, bytes: bigint): Promise<void> {
  const path = pathOf(v, volume);
  await Deno.mkdir(v.dir, { recursive: true, mode: 0o755 });
  try {
    await Deno.mkdir(path, { mode: 0o755 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    for await (const _ of Deno.readDir(path)) {
      throw new Error(`volume directory ${path} already holds data`);
    }
  }
  if (v.quotas) setQuota(path, bytes, bytes / BYTES_PER_INODE);
}

/** Raises (or sets) the quota of `volume` to `bytes`. */
export function resizeVolume(v: VolumeDirs, volume: string, bytes: bigint): void {
  const path = pathOf(v, volume);
  if (!Deno.statSync(path).isDirectory) throw new Error(`volume ${path} is not a directory`);
  if (v.quotas) setQuota(path, bytes, bytes / BYTES_PER_INODE);
}

/** Removes `volume`'s quota and directory; a volume that is already gone is fine. */
export async function deleteVolume(v: VolumeDirs, volume: string): Promise<void> {
  const path = pathOf(v, volume);
  try {
    if (v.quotas) removeQuota(path);
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    if ((e as { code?: string }).code === "ENOENT") return;
    throw e;
  }
}
