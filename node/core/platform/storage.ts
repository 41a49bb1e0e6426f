/**
 * The data storage of a namespace node (node.md §3, §8.3; testing.md §2.2): `/data` is either the
 * directory `<state>/data` or, when the launcher created `<state>/data.img` (`--storage loop`), an
 * XFS filesystem in that sparse image on a loop device. MountNew / MountExisting of §8.3 reduce to
 * "`mkfs.xfs -q` when the image has no XFS superblock yet, then mount": a namespace node is always
 * INSECURE, and an image that already holds XFS is never formatted again.
 */
import { attachLoop, hasXfsSuperblock, type LoopDevice } from "./loop.ts";

/** Where `/data` comes from. */
export type DataSource =
  | { kind: "dir"; path: string }
  | { kind: "loop"; image: string };

/** The loop image of a node's state directory. */
export function dataImagePath(state: string): string {
  return `${state}/data.img`;
}

/** `loop` when `<state>/data.img` exists, else the directory `<state>/data` (created if absent). */
export function dataSource(state: string): DataSource {
  const image = dataImagePath(state);
  try {
    if (Deno.statSync(image).isFile) return { kind: "loop", image };
  } catch { /* no image: directory storage */ }
  return { kind: "dir", path: `${state}/data` };
}

/** Whether the file or device at `path` starts with an XFS superblock. */
export function isXfs(path: string): boolean {
  const f = Deno.openSync(path, { read: true });
  try {
    const head = new Uint8Array(4);
    const n = f.readSync(head);
    return n === 4 && hasXfsSuperblock(head);
  } finally {
    f.close();
  }
}

/** Where mkfs.xfs is looked for (Debian's xfsprogs; `/sbin` is a symlink on merged-usr hosts). */
const MKFS_XFS = ["/usr/sbin/mkfs.xfs", "/sbin/mkfs.xfs"];

/** Formats `image` with `mkfs.xfs -q` (first use only, see the module comment). */
export function formatXfs(image: string, log: (line: string) => void): void {
  const bin = MKFS_XFS.find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  if (!bin) throw new Error(`mkfs.xfs not found (looked at ${MKFS_XFS.join(", ")})`);
  const out = new Deno.Command(bin, { args: ["-q", image], stdin: "null" }).outputSync();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n")[0];
    throw new Error(`mkfs.xfs ${image}: exit ${out.code}: ${err}`);
  }
  log(`formatted ${image} with XFS (first use)`);
}

/**
 * Prepares the loop image: formats it on first use, attaches it to a loop device and returns the
 * device, still held open until the caller mounted it.
 */
export function prepareLoopData(image: string, log: (line: string) => void): LoopDevice {
  if (!isXfs(image)) formatXfs(image, log);
  const dev = attachLoop(image);
  log(`attached ${image} to ${dev.path} (autoclear)`);
  return dev;
}
