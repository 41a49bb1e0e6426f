/**
 * malloc_trim(3) through libc. glibc keeps memory that native code freed (TLS and HTTP/2 buffers,
 * V8's compiler zones, ArrayBuffer backing stores) in its arenas for reuse and returns it to the
 * kernel only when the top of an arena is free, so a burst of work leaves the resident size up
 * for good. A ConsensusMember's agent held ≈ 12 MB of such memory at 60 s idle (testing.md §5
 * `rss`).
 */
import { lazyLibc } from "./libc.ts";

const libc = lazyLibc({ malloc_trim: { parameters: ["usize"], result: "i32" } });

/** Returns free memory of every malloc arena to the kernel; true when some was released. */
export function mallocTrim(): boolean {
  return libc().malloc_trim(0n) === 1;
}

/**
 * How often the agent hands memory freed by native code back to the kernel ({@link mallocTrim}):
 * at 60 s idle a ConsensusMember's VmRSS is ≈ 12 MB lower with it (testing.md §5 `rss`); one trim
 * of an arena that size is a fraction of a millisecond.
 */
export const MALLOC_TRIM_INTERVAL_MS = 30_000;

/**
 * Trims every {@link MALLOC_TRIM_INTERVAL_MS} for the life of the process (the agent, and the
 * benches' stand-in leader so that its memory is the agent's); the timer does not keep the event
 * loop alive.
 */
export function trimMallocPeriodically(): void {
  const t = setInterval(() => mallocTrim(), MALLOC_TRIM_INTERVAL_MS);
  Deno.unrefTimer(t);
}
