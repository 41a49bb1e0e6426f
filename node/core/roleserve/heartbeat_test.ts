import assert from "node:assert/strict";
import { Curator } from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { Management, Node_Health } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { run, signal, Supervisor } from "../../base/supervisor/supervisor.ts";
import { RecordingTiming, waitUntil } from "../../base/supervisor/testing.ts";
import { startTestCurator } from "../curator/testing.ts";
import { testLeaderClients } from "./testing.ts";
import type { LeaderClients } from "./context.ts";
import { heartbeat } from "./heartbeat.ts";

/** Supervises `heartbeat(leader)` as `root.heartbeat`; restarts fire at once, delays recorded. */
function supervise(leader: Pick<LeaderClients, "client">) {
  const timing = new RecordingTiming();
  const s = new Supervisor(new LogTree(), async (ctx) => {
    run(ctx, "heartbeat", heartbeat(leader));
    signal(ctx, "healthy");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  }, { timing, onRootExit: () => {} });
  return { s, timing };
}

Deno.test("heartbeat: Healthy once the leader answered, and the node reads HEALTHY", async () => {
  const c = await startTestCurator();
  const { clients, close } = testLeaderClients(c);
  const { s, timing } = supervise(clients);
  try {
    await waitUntil(() => s.state("root.heartbeat") === "HEALTHY", "heartbeat Healthy", 15_000);
    const mgmt = await c.client(Management, {
      certificate: await c.ownerCertificate(),
      privateKey: c.ownerKeys.privateKey,
    });
    const nodes = [];
    for await (const n of mgmt.getNodes({ filter: `node.id == "${c.nodeId}"` })) nodes.push(n);
    assert.equal(nodes.length, 1);
    assert.equal(nodes[0].health, Node_Health.HEALTHY);
    assert.deepEqual(timing.delays, [], "no restart while the leader answers");
  } finally {
    await s.stop();
    await close();
    await c.stop();
  }
});

Deno.test("heartbeat: a leader that never answers leaves it unhealthy, so the backoff grows", async () => {
  const a = await startTestCurator({ leaseTtl: 10 });
  // A second curator on the same etcd never leads while `a` holds the lease: it refuses
  // Heartbeat. Signalling Healthy on the write would reset the backoff to 0.5 s on every restart.
  const b = await startTestCurator({ etcd: a.etcd, noBootstrap: true, leaseTtl: 10 });
  const identity = { certificate: b.nodeCertificate, privateKey: b.nodeKeys.privateKey };
  const client = await b.client(Curator, identity);
  const { s, timing } = supervise(
    { client: () => Promise.resolve(client) } as unknown as Pick<LeaderClients, "client">,
  );
  try {
    await waitUntil(() => timing.delays.length >= 4, "4 restarts", 15_000);
    assert.deepEqual(timing.delays.slice(0, 4), [500, 750, 1125, 1687.5]);
    assert.notEqual(s.state("root.heartbeat"), "HEALTHY");
  } finally {
    await s.stop();
    await b.stop();
    await a.stop();
  }
});
