/**
 * Leaving a mount before a power action: unmount it; if something still holds it (an orphan that
 * outlived the supervisor), remount it read-only, which makes the filesystem write its log and
 * stop writing — the next boot then mounts a clean filesystem instead of replaying a log.
 * @module
 */
import { SysError } from "../../base/sys/errno.ts";
import { mount, MS, umount } from "../../base/sys/mount.ts";
import { mountHolders } from "./holders.ts";

/** What leaving a mount did. */
export type Left = "unmounted" | "not mounted" | "read-only" | "failed";

/** The filesystem calls {@link leaveMount} makes (tests record them). */
export interface MountCalls {
  umount(target: string): void;
  remountReadOnly(target: string): void;
  /** What keeps `target` busy (see {@link mountHolders}). */
  holders(target: string): string[];
}

const real: MountCalls = {
  umount: (t) => umount(t),
  remountReadOnly: (t) => mount(null, t, null, MS.REMOUNT | MS.RDONLY),
  holders: (t) => mountHolders(t),
};

/** Leaves `target` (see the module comment); `log` gets one line unless it simply unmounted. */
export function leaveMount(
  target: string,
  log: (line: string) => void,
  calls: MountCalls = real,
): Left {
  try {
    calls.umount(target);
    return "unmounted";
  } catch (e) {
    // EINVAL: not a mount point (never mounted, or a failed bring-up); ENOENT: no such path.
    if (e instanceof SysError && (e.code === "EINVAL" || e.code === "ENOENT")) return "not mounted";
    let why = e instanceof SysError ? e.code : (e as Error).message;
    if (e instanceof SysError && e.code === "EBUSY") {
      const h = calls.holders(target);
      why += h.length ? `; held by ${h.join(", ")}` : "; no holder found in /proc";
    }
    try {
      calls.remountReadOnly(target);
      log(`${target}: still in use (${why}): remounted read-only`);
      return "read-only";
    } catch (e2) {
      log(`${target}: cannot unmount (${why}) nor remount read-only: ${(e2 as Error).message}`);
      return "failed";
    }
  }
}
