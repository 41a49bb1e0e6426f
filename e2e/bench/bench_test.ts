/**
 * Tier 1 tests of the bench helpers: percentiles, the seeded record mix and the watch bookkeeping
 * of the kubernetes bench.
 */
import assert from "node:assert/strict";
import { NodeState } from "../../proto/gen/metropolis/proto/common/common_pb.ts";
import { Observed } from "./kubernetes.ts";
import { percentile } from "./report.ts";
import { benchRecord, randomPublicKeys } from "./seed.ts";

Deno.test("bench: nearest-rank percentiles", () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.throws(() => percentile(xs, 101), /within 0\.\.100/);
});

Deno.test("bench: mixed records cover every state, workers only when UP", () => {
  const recs = randomPublicKeys(30).map((p, i) => benchRecord(i, p, true));
  const states = new Set(recs.map((r) => r.fsmState));
  for (const s of [NodeState.NEW, NodeState.STANDBY, NodeState.UP, NodeState.DECOMMISSIONED]) {
    assert.ok(states.has(s), `state ${s} present`);
  }
  const workers = recs.filter((r) => r.roles?.kubernetesWorker);
  assert.ok(workers.length > 0);
  assert.ok(workers.every((r) => r.fsmState === NodeState.UP));
  assert.ok(recs.every((r) => r.id.startsWith("metropolis-") && r.labels?.pairs.length === 2));
  const plain = randomPublicKeys(5).map((p, i) => benchRecord(i, p, false));
  assert.ok(plain.every((r) => r.fsmState === NodeState.UP && !r.roles?.kubernetesWorker));
});

Deno.test("bench: watch events give first sighting and first final state per name", () => {
  const o = new Observed();
  o.see("a", false, 10);
  o.see("b", true, 12); // already final when the watch first named it
  o.see("a", false, 15);
  o.see("a", true, 20);
  o.see("a", true, 30); // later updates do not move the completion
  assert.equal(o.first.get("a"), 10);
  assert.equal(o.done.get("a"), 20);
  assert.equal(o.done.get("b"), 12);
  assert.deepEqual([...o.doneAtFirst], ["b"]);
});
