/**
 * Frees 128 MB of ArrayBuffers interleaved with small ones that stay (so the freed memory is not at
 * the top of the heap and glibc keeps it), then calls mallocTrim. Prints the VmRSS (MiB) before
 * and after the trim as JSON. Run with `--v8-flags=--expose-gc`.
 */
import { mallocTrim } from "../malloc.ts";

const rss = () =>
  Number(/^VmRSS:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/status"))![1]) / 1024;
let big: ArrayBuffer[] = [];
const small: ArrayBuffer[] = [];
for (let i = 0; i < 4096; i++) {
  big.push(new Uint8Array(32 * 1024).fill(1).buffer);
  if (i % 64 === 0) small.push(new ArrayBuffer(64));
}
big = [];
(globalThis as unknown as { gc(): void }).gc();
const before = rss();
const released = mallocTrim();
console.log(JSON.stringify({ before, after: rss(), released, small: small.length }));
