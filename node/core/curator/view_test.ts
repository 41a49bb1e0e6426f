/** The cached, pre-encoded public Node equals protobuf-es's own encoding byte for byte. */
import assert from "node:assert/strict";
import { filterSeesHealth } from "./management.ts";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { NodeSchema as NodeRecordSchema } from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import { NodeSchema as ApiNodeSchema } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { NodeState, NodeTPMUsage } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import {
  cachedApiNode,
  encodeWithHealth,
  encodeWithHealthInto,
  healthFields,
  nodeWithHealth,
  withHealth,
} from "./view.ts";

const records = [
  create(NodeRecordSchema, {
    id: "metropolis-00112233445566778899aabbccddeeff",
    publicKey: new Uint8Array(32).fill(1),
    fsmState: NodeState.UP,
    roles: { kubernetesWorker: {}, consensusMember: { peerCertificate: new Uint8Array([1]) } },
    status: { externalAddress: "10.0.0.1", timestamp: { seconds: 5n, nanos: 7 } },
    tpmUsage: NodeTPMUsage.NODE_TPM_USAGE_PRESENT_AND_USED,
    labels: { pairs: [{ key: "z", value: "1" }, { key: "a", value: "2" }] },
  }),
  create(NodeRecordSchema, { id: "metropolis-ff", fsmState: NodeState.NEW }),
  create(NodeRecordSchema, {}),
];

Deno.test("view: encodeWithHealth equals toBinary of the whole message", () => {
  const since = 1_000_000;
  const cases: [number | undefined, number][] = [
    [undefined, since + 1], // never seen, young leader: UNKNOWN, saturated duration
    [undefined, since + 60_000], // never seen, old leader: HEARTBEAT_TIMEOUT
    [since + 100, since + 100], // zero duration
    [since + 100, since + 1_100], // whole seconds (nanos 0)
    [since + 100, since + 2_345], // seconds and nanos
    [since + 100, since + 50_000], // timed out
    ...Array.from({ length: 50 }, (_, i): [number, number] => [since, since + 7 ** (i % 12) + i]),
  ];
  for (const r of records) {
    const c = cachedApiNode(r);
    for (const [last, now] of cases) {
      const h = healthFields(c.base.state, last, since, now);
      const want = toBinary(ApiNodeSchema, withHealth(c.base, last, since, now));
      assert.deepEqual(encodeWithHealth(c, h), want, `record ${r.id}, last ${last}, now ${now}`);
      // In place, after other bytes, as GetNodes writes into its batches.
      const out = new Uint8Array(3 + want.length + 2).fill(0xee);
      assert.equal(encodeWithHealthInto(out, 3, c, h), 3 + want.length);
      assert.deepEqual(out.subarray(3, 3 + want.length), want);
      assert.deepEqual([...out.subarray(0, 3), ...out.subarray(3 + want.length)], [
        0xee,
        0xee,
        0xee,
        0xee,
        0xee,
      ]);
      assert.deepEqual(
        fromBinary(ApiNodeSchema, encodeWithHealth(c, h)),
        fromBinary(ApiNodeSchema, toBinary(ApiNodeSchema, nodeWithHealth(c.base, h))),
      );
    }
  }
});

Deno.test("management: filterSeesHealth is conservative", () => {
  for (
    const f of [
      "node.health == HEALTH_HEALTHY",
      "node.time_since_heartbeat < duration('6s')",
      'node.id == "healthy"',
      "node == metropolis.proto.api.Node{}",
      "[node].exists(x, x.state == NODE_STATE_UP)",
    ]
  ) assert.equal(filterSeesHealth(f), true, f);
  for (
    const f of [
      "",
      "node.state == NODE_STATE_UP && has(node.roles.kubernetes_worker)",
      'node . id == "x"',
    ]
  ) assert.equal(filterSeesHealth(f), false, f);
});
