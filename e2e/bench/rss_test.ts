/** The rss bench's readers of /proc and of the agent's `/metrics/core`. */
import assert from "node:assert/strict";
import { parseCoreMetrics, parseSmapsRollup, RSS_SUBNET, stringArg } from "./rss.ts";

Deno.test("rss: smaps_rollup splits RSS into file-backed and anonymous, with PSS", () => {
  const text = [
    "55d1c0000000-7ffd00000000 ---p 00000000 00:00 0                  [rollup]",
    "Rss:              113700 kB",
    "Pss:               71100 kB",
    "Pss_Anon:          60000 kB",
    "Anonymous:         61800 kB",
  ].join("\n");
  assert.deepEqual(parseSmapsRollup(text), {
    rss: 113700,
    pss: 71100,
    rssFile: 51900,
    anon: 61800,
  });
  assert.throws(() => parseSmapsRollup("Rss: 1 kB\nAnonymous: 1 kB\n"), /lacks Pss/);
});

Deno.test("rss: /metrics/core gives heap used, heap reserved and external bytes", () => {
  const text = [
    "# TYPE process_heap_used_bytes gauge",
    "process_heap_used_bytes 20000000",
    "process_heap_total_bytes 30000000",
    "process_external_memory_bytes 5000000",
  ].join("\n");
  assert.deepEqual(parseCoreMetrics(text), {
    heapUsed: 20000000,
    heapTotal: 30000000,
    external: 5000000,
  });
  // An older agent without the new gauges: NaN, not zero, so the report shows "unknown".
  assert.ok(Number.isNaN(parseCoreMetrics("process_heap_used_bytes 1").external));
});

Deno.test("rss: --subnet picks the cluster's subnet, default outside the test suites' ones", () => {
  assert.equal(stringArg(["--subnet", "10.1.53.0/24"], "subnet", RSS_SUBNET), "10.1.53.0/24");
  assert.equal(stringArg(["--wait", "5"], "subnet", RSS_SUBNET), "10.1.51.0/24");
});
