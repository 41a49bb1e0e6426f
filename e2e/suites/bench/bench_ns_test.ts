/**
 * Smoke runs of the benchmarks that launch namespace nodes (issue #16: benchmarks are not part of
 * the test command, only a short run of each asserting that it produces numbers): formation with
 * one run, crash with one round, rss without its wait and GetNodes load. Each on a subnet of its
 * own. The values are not judged against their targets, only checked to be real measurements.
 */
import assert from "node:assert/strict";
import { crash } from "../../bench/crash.ts";
import { formation } from "../../bench/formation.ts";
import { REPORTED, type Result } from "../../bench/report.ts";
import { rss } from "../../bench/rss.ts";

/** Runs `bench` and returns its results by name. */
async function results(bench: () => Promise<void>): Promise<Map<string, Result>> {
  const from = REPORTED.length;
  await bench();
  return new Map(REPORTED.slice(from).map(({ result }) => [result.bench, result]));
}

const positive = (r: Result | undefined, what: string) =>
  assert.ok(r && Number.isFinite(r.value) && r.value > 0, `${what}: ${JSON.stringify(r)}`);

const smoke = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false, fn });

smoke("bench smoke: formation times one launch and the etcd floor", async () => {
  const r = await results(() =>
    formation(["--runs", "1", "--floor-runs", "1", "--subnet", "10.1.59.0/24"])
  );
  positive(r.get("formation"), "formation");
  positive(r.get("formation-etcd-floor"), "formation-etcd-floor");
});

smoke(
  "bench smoke: crash kills the leader's node once and times the new leader and the survivors",
  async () => {
    const r = await results(() => crash(["--rounds", "1", "--subnet", "10.1.60.0/24"]));
    const c = r.get("crash/4-nodes");
    positive(c, "crash/4-nodes");
    // The survivors read HEALTHY on the new leader, so after it led (the extra fields are
    // rounded to 0.01 s).
    const led = c!.extra!.newLeaderWorstS as number;
    assert.ok(led > 0 && led <= c!.value + 0.01, JSON.stringify(c));
  },
);

smoke("bench smoke: rss reads both agents' memory", async () => {
  const r = await results(() => rss(["--wait", "5", "--calls", "0", "--subnet", "10.1.62.0/24"]));
  for (const kind of ["consensus-member", "no-role"]) {
    const x = r.get(`rss-${kind}`);
    positive(x, kind);
    assert.ok((x!.extra!.fileBackedMB as number) > 0, JSON.stringify(x));
  }
});
