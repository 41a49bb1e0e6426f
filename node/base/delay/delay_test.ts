import assert from "node:assert/strict";
import { aborted, delay } from "./delay.ts";

Deno.test("delay: waits the time, ends early on abort, leaves no timer or listener", async () => {
  const t0 = performance.now();
  await delay(20);
  assert.ok(performance.now() - t0 >= 15);
  const ac = new AbortController();
  const p = delay(60_000, ac.signal);
  ac.abort();
  await p; // resolves at once; the test sanitizer fails on a leaked 60 s timer
  await delay(60_000, ac.signal); // already aborted
  await delay(Infinity, AbortSignal.timeout(5)); // Infinity waits for the abort only
});

Deno.test("aborted: resolves when the signal aborts", async () => {
  const ac = new AbortController();
  let done = false;
  const p = aborted(ac.signal).then(() => done = true);
  await delay(5);
  assert.equal(done, false);
  ac.abort();
  await p;
  assert.equal(done, true);
});
