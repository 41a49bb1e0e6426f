/**
 * Smoke runs of the control-plane benchmarks (issue #16: benchmarks are not part of the test
 * command, only a short run of each asserting that it produces numbers): getnodes and heartbeats
 * with a few nodes, without the Kubernetes peer (its `kube` build takes minutes). The timing
 * values are not checked.
 */
import assert from "node:assert/strict";
import { getnodes } from "./getnodes.ts";
import { heartbeats } from "./heartbeats.ts";
import { REPORTED } from "./report.ts";

/** The results reported while `run` ran, by bench name. */
async function collect(run: () => Promise<void>): Promise<Map<string, number>> {
  const from = REPORTED.length;
  await run();
  return new Map(REPORTED.slice(from).map(({ result }) => [result.bench, result.value]));
}

Deno.test({
  name: "bench smoke: getnodes reports a latency per filter, undecoded and decoded",
  sanitizeOps: false, // grpc-js keeps keepalive timers of closed channels for a while
  sanitizeResources: false,
  async fn() {
    const r = await collect(() => getnodes(["--sizes", "30", "--calls", "3", "--no-peer"]));
    for (const f of ["empty", "up-worker", "heartbeat"]) {
      for (const name of [`getnodes/30/${f}`, `getnodes/30/${f}/decoded`]) {
        assert.ok(Number.isFinite(r.get(name)) && r.get(name)! > 0, name);
      }
    }
  },
});

Deno.test({
  name: "bench smoke: heartbeats over two client processes report CPU, RSS, ramp-up, no timeouts",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await collect(() =>
      heartbeats([
        "--nodes",
        "12",
        "--per-process",
        "6",
        "--duration",
        "2",
        "--interval",
        "0.5",
        "--no-peer",
      ])
    );
    for (const m of ["leader-cpu", "rtt", "leader-rss", "ramp-up"]) {
      assert.ok(Number.isFinite(r.get(`heartbeats/12/${m}`)), m);
    }
    assert.equal(r.get("heartbeats/12/timeouts"), 0);
  },
});
