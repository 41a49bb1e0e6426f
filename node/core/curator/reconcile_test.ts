import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { NodeSchema as NodeRecordSchema } from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import { Management } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { Curator } from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { NodeState } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { generateEd25519, rawPublicKey } from "../../base/pki/keys.ts";
import { nodeId } from "../identity/nodeid.ts";
import { nodeKey } from "./keys.ts";
import { startTestCurator } from "./testing.ts";

Deno.test("reconcile: stray etcd members removed, ConsensusMember cleared without membership", async () => {
  const c = await startTestCurator();
  try {
    const ghost = nodeId(await rawPublicKey((await generateEd25519()).publicKey));
    await c.etcd.client.cluster.memberAdd({ peerURLs: [`https://${ghost}:7834`], isLearner: true });
    const pub = await rawPublicKey((await generateEd25519()).publicKey);
    const orphan = nodeId(pub);
    await c.etcd.kv.namespace("curator/").put(
      nodeKey(orphan),
      toBinary(
        NodeRecordSchema,
        create(NodeRecordSchema, {
          id: orphan,
          publicKey: pub,
          fsmState: NodeState.UP,
          roles: { consensusMember: {}, kubernetesController: {} },
        }),
      ),
    );
    const owner = { certificate: await c.ownerCertificate(), privateKey: c.ownerKeys.privateKey };
    const cur = await c.client(Curator, owner);
    const mgmt = await c.client(Management, owner);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const members = (await cur.getConsensusStatus({})).etcdMember.map((m) => m.id);
      const nodes = [];
      for await (const n of mgmt.getNodes({ filter: `node.id == "${orphan}"` })) nodes.push(n);
      const done = !members.includes(ghost) && !nodes[0]?.roles?.consensusMember;
      if (done) {
        assert.deepEqual(members, [c.nodeId], "only the leader's own membership remains");
        assert.equal(nodes[0].roles?.kubernetesController, undefined);
        break;
      }
      assert.ok(Date.now() < deadline, "reconciliation did not happen within 15 s");
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await c.stop();
  }
});
