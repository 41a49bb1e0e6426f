/**
 * Tier 1 tests of the bench helpers: percentiles, the seeded record mix and the watch bookkeeping
 * of the kubernetes bench.
 */
import assert from "node:assert/strict";
import { NodeState } from "../../proto/gen/metropolis/proto/common/common_pb.ts";
import { Observed } from "./kubernetes.ts";
import { renderReport } from "./all.ts";
import { spread } from "./heartbeat_client.ts";
import { kubeNode, UP_WORKER_SELECTOR } from "./kubepeer.ts";
import { percentile } from "./report.ts";
import { parseCpuTicks, stealPercent } from "./proc.ts";
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

Deno.test("bench: the peer's Nodes mirror the records, and the up-worker selector picks the same nodes", () => {
  const recs = randomPublicKeys(40).map((p, i) => benchRecord(i, p, true));
  const [stateSel, workerSel] = UP_WORKER_SELECTOR.split(",");
  const [stateKey, stateValue] = stateSel.split("=");
  for (const r of recs) {
    // deno-lint-ignore no-explicit-any
    const n = kubeNode(r) as any;
    assert.equal(n.metadata.name, r.id);
    const labels: Record<string, string> = n.metadata.labels;
    for (const p of r.labels!.pairs) assert.equal(labels[p.key], p.value);
    const selected = labels[stateKey] === stateValue && workerSel in labels;
    assert.equal(selected, r.fsmState === NodeState.UP && !!r.roles?.kubernetesWorker, r.id);
    const internal = n.status.addresses.find((a: { type: string }) => a.type === "InternalIP");
    assert.equal(internal?.address, r.status?.externalAddress);
    assert.equal(n.status.conditions.length, 5);
  }
});

Deno.test("bench: the report has a row per result with peer and ratio, and failed benches", () => {
  const machine = { cpus: 2, model: "cpu", accelerator: "none", load1: 3 };
  const md = renderReport(
    [
      {
        name: "getnodes",
        args: ["--sizes", "10000"],
        seconds: 61,
        loadBefore: 3.5,
        loadAfter: 4,
        stealPct: 12.4,
        results: [{
          machine,
          result: {
            bench: "getnodes/10000/empty",
            value: 80,
            unit: "ms p99",
            target: "<= 100",
            runs: 100,
            ok: true,
            peer: 320,
          },
        }],
      },
      {
        name: "rss",
        args: [],
        seconds: 5,
        loadBefore: 4,
        loadAfter: 4,
        stealPct: 0,
        error: "boom",
        results: [],
      },
    ],
    "2026-01-01T00:00:00Z",
    "deno task bench all",
  );
  assert.match(
    md,
    /\| getnodes\/10000\/empty \(ms p99\) \| 80 \| 320 \| 0\.25 \| <= 100 \| met \|/,
  );
  assert.match(md, /\| rss {2}\| 4 → 4 \| 0 % \| 5 s \| failed: boom \|/);
  assert.match(md, /\| getnodes --sizes 10000 \| 3\.5 → 4 \| 12 % \| 61 s \| ok \|/);
});

Deno.test("bench: host steal time is the stolen share of all CPU ticks between two readings", () => {
  const stat = (user: number, idle: number, steal: number, guest: number) =>
    `cpu  ${user} 10 20 ${idle} 5 0 5 ${steal} ${guest} 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1\n`;
  const a = parseCpuTicks(stat(100, 1000, 50, 40));
  assert.deepEqual(a, { total: 1190, steal: 50 });
  const b = parseCpuTicks(stat(200, 1300, 150, 90)); // +500 ticks, 100 of them stolen
  assert.equal(stealPercent(a, b), 20);
  assert.equal(stealPercent(b, b), 0);
  assert.throws(() => parseCpuTicks("intr 1\n"), /no aggregate cpu line/);
  assert.throws(() => parseCpuTicks("cpu  1 2 3\n"), /unexpected cpu line/);
});

Deno.test("bench: nodes are spread evenly over client processes", () => {
  assert.deepEqual(spread(15000, 5000), [[0, 5000], [5000, 5000], [10000, 5000]]);
  assert.deepEqual(spread(10, 4), [[0, 4], [4, 3], [7, 3]]);
  assert.deepEqual(spread(3, 5000), [[0, 3]]);
});
