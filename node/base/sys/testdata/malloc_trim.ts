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
// V8 frees the backing stores of collected ArrayBuffers on a background thread after the GC;
// on a loaded machine that can finish after gc() returns, and a trim before it finds nothing to
// release. Collect twice with pauses (the freed memory stays resident in glibc meanwhile).
const gc = (globalThis as unknown as { gc(): void }).gc;
for (let i = 0; i < 2; i++) {
  gc();
  await new Promise((r) => setTimeout(r, 250));
}
const before = rss();
const released = mallocTrim();
console.log(JSON.stringify({ before, after: rss(), released, small: small.length }));
