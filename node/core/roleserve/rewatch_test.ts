import assert from "node:assert/strict";
import { REWATCH_MAX_WINDOW_MS, rewatchDelayMs, rewatchWindowMs } from "./rewatch.ts";

Deno.test("rewatchWindowMs: grows with the square of the cluster, negligible when small, capped", () => {
  assert.equal(rewatchWindowMs(0), 0);
  assert.ok(rewatchWindowMs(3) < 1, "a 3-node cluster watches again at once");
  assert.equal(rewatchWindowMs(1_000), 4_000);
  assert.equal(rewatchWindowMs(5_000), 100_000);
  assert.equal(rewatchWindowMs(2_000) / rewatchWindowMs(1_000), 4);
  assert.equal(rewatchWindowMs(15_000), REWATCH_MAX_WINDOW_MS);
  assert.equal(rewatchWindowMs(-1), 0);
});

Deno.test("rewatchDelayMs: uniform within the window", () => {
  assert.equal(rewatchDelayMs(5_000, () => 0), 0);
  assert.equal(rewatchDelayMs(5_000, () => 0.5), 50_000);
  assert.ok(rewatchDelayMs(5_000, () => 0.999_999) < rewatchWindowMs(5_000));
});
