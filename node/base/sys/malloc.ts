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
