/**
 * GetNodes through the leader's caches (pre-encoded views, sorted IDs, per-filter memo): results
 * follow record changes and stay sorted, on a real curator. And GetNodes against costly filters:
 * rejected, budgeted, yielding, and stopped by cancellation or deadline.
 */
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import {
  GetNodesRequestSchema,
  Management,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { NodeSchema as NodeRecordSchema } from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import { NodeState } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { nodeId } from "../identity/nodeid.ts";
import { nodeKey } from "./keys.ts";
import type { Leader } from "./leader.ts";
import { Management as ManagementLogic } from "./management.ts";
import { CEL_COSTLY, CEL_HIDDEN_COST, celBomb, celList, startTestCurator } from "./testing.ts";

Deno.test("getNodes: cached views and filter results follow record changes", async () => {
  const c = await startTestCurator();
  try {
    const mgmt = await c.client(Management, {
      certificate: await c.ownerCertificate(),
      privateKey: c.ownerKeys.privateKey,
    });
    const kv = c.etcd.kv.namespace("curator/");
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const pub = crypto.getRandomValues(new Uint8Array(32));
      const id = nodeId(pub);
      ids.push(id);
      const rec = create(NodeRecordSchema, { id, publicKey: pub, fsmState: NodeState.UP });
      await kv.put(nodeKey(id), toBinary(NodeRecordSchema, rec));
    }
    const list = async (filter: string) => {
      const out = [];
      for await (const n of mgmt.getNodes({ filter })) out.push(n);
      return out;
    };
    const all = [...ids, c.nodeId].sort();
    for (let tries = 0; (await list("")).length < all.length; tries++) {
      assert.ok(tries < 100, "seeded records reach the leader's cache");
      await new Promise((r) => setTimeout(r, 50));
    }
    const workers = "has(node.roles.kubernetes_worker)";
    assert.deepEqual((await list(workers)).map((n) => n.id), []);
    assert.deepEqual((await list(workers)).map((n) => n.id), [], "memoized result");
    await mgmt.updateNodeRoles({ node: { case: "id", value: ids[3] }, kubernetesWorker: true });
    assert.deepEqual((await list(workers)).map((n) => n.id), [ids[3]], "memo follows the change");
    const everything = await list("");
    assert.deepEqual(everything.map((n) => n.id), all, "sorted by ID");
    const changed = everything.find((n) => n.id === ids[3])!;
    assert.ok(changed.roles?.kubernetesWorker, "cached view follows the change");
    assert.ok(changed.timeSinceHeartbeat, "health fields present");
    await mgmt.decommissionNode({ node: { case: "id", value: ids[5] } });
    await mgmt.deleteNode({ node: { case: "id", value: ids[5] } });
    assert.deepEqual(
      (await list("")).map((n) => n.id),
      all.filter((id) => id !== ids[5]),
      "sorted IDs follow a deletion",
    );
  } finally {
    await c.stop();
  }
});

Deno.test("getNodes: the CEL bomb is INVALID_ARGUMENT at once, a budget overrun RESOURCE_EXHAUSTED", async () => {
  const c = await startTestCurator();
  try {
    const mgmt = await c.client(Management, {
      certificate: await c.ownerCertificate(),
      privateKey: c.ownerKeys.privateKey,
    });
    const failure = async (filter: string) => {
      try {
        for await (const _ of mgmt.getNodes({ filter })) { /* drain */ }
      } catch (e) {
        const { code, details } = e as { code: number; details: string };
        return { code, details };
      }
      assert.fail(`filter ${filter.slice(0, 40)}… succeeded`);
    };
    await failure("node.bogus"); // warm the connection and the CEL environment
    const b = await failure(celBomb(100));
    assert.equal(b.code, status.INVALID_ARGUMENT);
    assert.match(b.details, /^filter: filter too expensive: estimated cost \d+ per node/);
    const r = await failure(CEL_HIDDEN_COST);
    assert.equal(r.code, status.RESOURCE_EXHAUSTED);
    assert.equal(
      r.details,
      "filter: evaluation of one node exceeds the budget of 25000 cost units (at node 1 of 1)",
    );
    // A legitimate filter still works on the same leader.
    const nodes = [];
    for await (const n of mgmt.getNodes({ filter: `${celList(100)}.exists(x, x == 99)` })) {
      nodes.push(n);
    }
    assert.deepEqual(nodes.map((n) => n.id), [c.nodeId]);
  } finally {
    await c.stop();
  }
});

/**
 * A Management over a stand-in leader holding `count` UP records: what #select reads (cache,
 * heartbeats, clock); `visited` counts the nodes it evaluated (one heartbeat lookup each).
 */
function fakeLeaderManagement(count: number) {
  const nodes = new Map<string, { record: unknown }>();
  for (let i = 0; i < count; i++) {
    const pub = new Uint8Array(32);
    new DataView(pub.buffer).setUint32(0, i + 1);
    const id = nodeId(pub);
    nodes.set(id, {
      record: create(NodeRecordSchema, { id, publicKey: pub, fsmState: NodeState.UP }),
    });
  }
  const visited = { n: 0 };
  const heartbeats = new Map<string, number>();
  heartbeats.get = () => (visited.n++, undefined);
  const leader = {
    cache: {
      nodes,
      revision: 1n,
      sync: () => Promise.resolve(),
      sortedIds: () => [...nodes.keys()].sort(),
    },
    heartbeats,
    since: 0,
    now: () => 1000,
  };
  return { mgmt: new ManagementLogic(leader as unknown as Leader), visited };
}

Deno.test("getNodes: concurrent costly filters take turns with the event loop", async () => {
  const calls = 4;
  const records = 600;
  const { mgmt, visited } = fakeLeaderManagement(records);
  // ≈ 1,000 units per node, 0.6 M per call (under the call budget); mentioning health keeps the
  // leader from memoizing results between the calls.
  const filter = `${celList(100)}.exists(x, x == 99) && node.health == node.health`;
  const run = () => mgmt.getNodes(create(GetNodesRequestSchema, { filter }));
  // Warm: compiled code, not the interpreter's first runs, is what a busy leader runs.
  await run();
  visited.n = 0;
  // What a 1 ms timer sees of the calls' progress. Without slicing, each call evaluates all its
  // nodes in one synchronous run, so timers only ever see multiples of `records`; with slicing
  // they fire while calls are half done. Counting such observations, not measuring stalls in
  // milliseconds, keeps this a behavioural test on a loaded machine.
  const midCall = new Set<number>();
  const ticker = setInterval(() => {
    if (visited.n % records !== 0) midCall.add(visited.n);
  }, 1);
  try {
    const results = await Promise.all(Array.from({ length: calls }, run));
    assert.ok(results.every((r) => r.length === records));
    assert.equal(visited.n, calls * records);
    // Timers (heartbeat deadlines, lease renewals) ran while the filters were evaluated.
    assert.ok(
      midCall.size >= calls,
      `timers ran ${midCall.size} times in the middle of a call (want ≥ ${calls})`,
    );
  } finally {
    clearInterval(ticker);
  }
});

Deno.test("getNodes: a cancelled call stops evaluating", async () => {
  const records = 2000;
  const { mgmt, visited } = fakeLeaderManagement(records);
  // ≈ 1,000 units per node: 2 M for the call, under its budget, a few hundred ms of work.
  const filter = `${celList(100)}.exists(x, x == 99)`;
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error("cancelled by test")), 50);
  await assert.rejects(
    mgmt.getNodes(create(GetNodesRequestSchema, { filter }), ac.signal),
    /cancelled by test/,
  );
  const seen = visited.n;
  assert.ok(seen > 0 && seen < records, `evaluated ${seen} of ${records} nodes`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(visited.n, seen, "no evaluation after the call ended");
});

Deno.test("getNodes: a call past its deadline stops with DEADLINE_EXCEEDED", async () => {
  const c = await startTestCurator();
  try {
    const mgmt = await c.client(Management, {
      certificate: await c.ownerCertificate(),
      privateKey: c.ownerKeys.privateKey,
    });
    const kv = c.etcd.kv.namespace("curator/");
    for (let i = 0; i < 100; i++) {
      const pub = crypto.getRandomValues(new Uint8Array(32));
      const id = nodeId(pub);
      const rec = create(NodeRecordSchema, { id, publicKey: pub, fsmState: NodeState.UP });
      await kv.put(nodeKey(id), toBinary(NodeRecordSchema, rec));
    }
    const count = async (filter: string, deadline?: number) => {
      let n = 0;
      for await (const _ of mgmt.getNodes({ filter }, deadline ? { deadline } : {})) n++;
      return n;
    };
    for (let tries = 0; (await count("")) < 101; tries++) {
      assert.ok(tries < 100, "seeded records reach the leader's cache");
      await new Promise((r) => setTimeout(r, 50));
    }
    let start = performance.now();
    // A different filter each time: results of health-independent filters are memoized.
    assert.equal(await count(CEL_COSTLY.replace("== 3", "== 4")), 101);
    const full = performance.now() - start;
    start = performance.now();
    await assert.rejects(count(CEL_COSTLY, Date.now() + 50), (e) => {
      assert.equal((e as { code: number }).code, status.DEADLINE_EXCEEDED);
      return true;
    });
    // The leader stopped evaluating: a cheap call right after answers long before the costly
    // evaluation would have ended.
    assert.equal(await count("node.state == NODE_STATE_UP"), 101);
    const ms = performance.now() - start;
    assert.ok(
      ms < full / 2,
      `deadline and next call in ${ms.toFixed(0)} ms, full ${full.toFixed(0)}`,
    );
  } finally {
    await c.stop();
  }
});
