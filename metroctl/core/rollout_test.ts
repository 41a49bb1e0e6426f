/**
 * Rolling update scheduling: the budget of nodes in flight, waiting for HEALTHY on the new
 * version, stopping after a failure, activation `none` without waiting.
 */
import assert from "node:assert/strict";
import { type NodeObservation, rollout, type RolloutNode } from "./rollout.ts";

const nodes = (n: number): RolloutNode[] =>
  Array.from({ length: n }, (_, i) => ({ id: `n${i}`, address: `10.1.57.${i + 2}` }));

/** A cluster where an updated node reports `version` HEALTHY after `restartMs`. */
function cluster(restartMs: number, version = "0.2.0") {
  const restartedAt = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  const down = new Set<string>();
  return {
    get maxInFlight() {
      return maxInFlight;
    },
    send(n: RolloutNode) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      down.add(n.id);
      restartedAt.set(n.id, performance.now() + restartMs);
      return Promise.resolve();
    },
    observe(n: RolloutNode): Promise<NodeObservation> {
      const back = (restartedAt.get(n.id) ?? 0) <= performance.now();
      if (back && down.delete(n.id)) inFlight--;
      return Promise.resolve(
        back ? { healthy: true, version } : { healthy: false, version: "0.1.0" },
      );
    },
  };
}

const fast = { firstWaitMs: 5, pollMs: 5, signal: new AbortController().signal };

Deno.test("at most max-unavailable nodes are down at once; each waits for HEALTHY on the new version", async () => {
  const c = cluster(30);
  const lines: string[] = [];
  const r = await rollout({
    ...fast,
    nodes: nodes(5),
    maxUnavailable: 2,
    send: (n) => c.send(n),
    observe: (n) => c.observe(n),
    expectedVersion: "0.2.0",
    waitForRestart: true,
    log: (l) => lines.push(l),
  });
  assert.deepEqual(r.updated.sort(), ["n0", "n1", "n2", "n3", "n4"]);
  assert.equal(c.maxInFlight, 2);
  assert.equal(
    lines.filter((l) => /^node n\d updated in [\d.]+s to version 0\.2\.0$/.test(l)).length,
    5,
  );
  assert.ok(lines.includes("sending update request to: n0 (10.1.57.2)"));
});

Deno.test("a node that stays on the old version fails the rollout; no further node is started", async () => {
  const c = cluster(0, "0.1.0"); // comes back, but on the old version (the new slot did not boot)
  const sent: string[] = [];
  const r = await rollout({
    ...fast,
    nodes: nodes(3),
    maxUnavailable: 1,
    send: (n) => (sent.push(n.id), c.send(n)),
    observe: (n) => c.observe(n),
    expectedVersion: "0.2.0",
    waitForRestart: true,
    timeoutMs: 40,
    log: () => {},
  });
  assert.deepEqual(sent, ["n0"]);
  assert.deepEqual(r.skipped, ["n1", "n2"]);
  assert.match(
    r.failed[0].error,
    /did not come back HEALTHY on version 0\.2\.0 within .* \(HEALTHY on version 0\.1\.0\)/,
  );
});

Deno.test("a refused UpdateNode is the node's failure with its status; activation none does not wait", async () => {
  const lines: string[] = [];
  const r = await rollout({
    ...fast,
    nodes: nodes(2),
    maxUnavailable: 2,
    send: (n) =>
      n.id === "n1"
        ? Promise.reject(new Error("UNAVAILABLE: OS image lacks payload boot-b.efi"))
        : Promise.resolve(),
    observe: () => Promise.reject(new Error("not called")),
    waitForRestart: false,
    log: (l) => lines.push(l),
  });
  assert.deepEqual(r.updated, ["n0"]);
  assert.deepEqual(r.failed, [{
    id: "n1",
    error: "UNAVAILABLE: OS image lacks payload boot-b.efi",
  }]);
  assert.ok(lines.includes("node n0: image installed; it activates on the node's next reboot"));
});

Deno.test("a look that hangs counts as not visible: the next look still sees the node come back", async () => {
  const c = cluster(20);
  let looks = 0;
  const lines: string[] = [];
  const r = await rollout({
    ...fast,
    lookMs: 10,
    nodes: nodes(1),
    maxUnavailable: 1,
    send: (n) => c.send(n),
    // The first two looks never answer (a connection to a leader that went away).
    observe: (n) => ++looks <= 2 ? new Promise(() => {}) : c.observe(n),
    expectedVersion: "0.2.0",
    waitForRestart: true,
    log: (l) => lines.push(l),
  });
  assert.deepEqual(r.updated, ["n0"]);
  assert.ok(looks > 2);
});
