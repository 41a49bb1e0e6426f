/**
 * GetNodes through the leader's caches (pre-encoded views, sorted IDs, per-filter memo): results
 * follow record changes and stay sorted, on a real curator.
 */
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { Management } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { NodeSchema as NodeRecordSchema } from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import { NodeState } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { nodeId } from "../identity/nodeid.ts";
import { nodeKey } from "./keys.ts";
import { startTestCurator } from "./testing.ts";

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
