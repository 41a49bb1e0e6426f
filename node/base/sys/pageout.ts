/**
 * Hands the runtime's cold code back to the kernel: madvise(MADV_PAGEOUT) on the file mappings
 * of the running executable (`deno`).
 *
 * The runtime is a ≈ 95 MB executable. Starting the agent touches ≈ 45 MB of it (module loading,
 * the TypeScript and npm machinery, V8's compilers warming up), and those pages stay resident
 * although most of them never run again: with nothing else asking for memory the kernel has no
 * reason to reclaim them. MADV_PAGEOUT reclaims them at once: clean file pages are dropped, and
 * what the agent still runs is read back from the executable on its next use (a node's system
 * image), so what stays resident is the code the agent actually keeps running. Measured on a
 * private copy of the executable: file-backed RSS 43.7 → 11.4 MB at once and 22.7 MB a minute
 * later with the agent's kind of work going on.
 *
 * The kernel skips pages another process maps too (a host where several agents share one
 * `deno`, as namespace nodes do by default): there the call changes nothing, which is harmless.
 * Kernels before 5.4 refuse the advice (EINVAL); {@link pageOutRuntime} then reports it.
 */
import { lazyLibc, readErrno, strerrorOf } from "./libc.ts";

/** madvise(2) advice: reclaim the range's pages now (Linux ≥ 5.4). */
export const MADV_PAGEOUT = 21;

/** One mapping of a file, [start, end) in the process's address space. */
export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
}

/**
 * The mappings of `file` in a `/proc/<pid>/maps` text: code (`r-xp`) and read-only data
 * (`r--p`, where the runtime keeps V8's snapshot and its own JavaScript). Writable mappings are
 * left alone: once written to, their pages are anonymous copies, not the file's.
 */
export function fileMappings(maps: string, file: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of maps.split("\n")) {
    // start-end perms offset dev inode [path]; the path may contain spaces.
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s+(.+)$/.exec(line);
    if (!m || m[4] !== file || (m[3] !== "r-xp" && m[3] !== "r--p")) continue;
    out.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), perms: m[3] });
  }
  return out;
}

/** RssFile of a `/proc/<pid>/status` text, kB (NaN when absent). */
export function rssFileKb(status: string): number {
  return Number(/^RssFile:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
}

/** What {@link pageOutRuntime} did. */
export interface PageoutResult {
  /** Bytes of the executable's mappings advised. */
  advised: number;
  /** File-backed RSS before and after, kB. */
  rssFileBeforeKb: number;
  rssFileAfterKb: number;
  /** Set when the kernel refused the advice (then nothing was paged out). */
  error?: string;
}

const libc = lazyLibc({ madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" } });

/** Pages out the running executable's code and read-only data (see the module comment). */
export function pageOutRuntime(): PageoutResult {
  const before = rssFileKb(Deno.readTextFileSync("/proc/self/status"));
  const s = libc();
  let advised = 0;
  let error: string | undefined;
  // /proc/self/exe names the executable as the maps do, also after a namespace node's pivot_root
  // changed the path the kernel shows for it.
  const exe = Deno.readLinkSync("/proc/self/exe");
  for (const m of fileMappings(Deno.readTextFileSync("/proc/self/maps"), exe)) {
    const len = m.end - m.start;
    if (s.madvise(Deno.UnsafePointer.create(m.start), len, MADV_PAGEOUT) !== 0) {
      error = `madvise(MADV_PAGEOUT): ${strerrorOf(s, readErrno(s))}`;
      break;
    }
    advised += Number(len);
  }
  const after = rssFileKb(Deno.readTextFileSync("/proc/self/status"));
  return { advised, rssFileBeforeKb: before, rssFileAfterKb: after, ...(error ? { error } : {}) };
}
