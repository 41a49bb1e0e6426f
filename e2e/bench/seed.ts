/**
 * Bench-only seeding: writes node records straight into etcd in the curator's own storage format
 * (`private.Node` under `curator/nodes/<id>`, node.md §12.3), the way the leader's node cache and
 * authorizer read them. No enrolment happens, so these nodes have no certificates unless the bench
 * issues some for the same public keys.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  type Node as NodeRecord,
  NodeSchema as NodeRecordSchema,
} from "../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import { NodeState, NodeTPMUsage } from "../../proto/gen/metropolis/proto/common/common_pb.ts";
import type { KV } from "../../node/core/consensus/kv.ts";
import { nodeId } from "../../node/core/identity/nodeid.ts";
import { nodeKey } from "../../node/core/curator/keys.ts";

/** etcd limits a transaction to 128 operations by default; stay below. */
const BATCH = 100;

/**
 * A record for node number `i` with public key `pub`. `mixed`: states cycle 70 % UP, 10 % each
 * NEW, STANDBY, DECOMMISSIONED; every third UP node holds KubernetesWorker. Otherwise UP without
 * roles. Every record has a status with an external address and two labels.
 */
export function benchRecord(i: number, pub: Uint8Array, mixed: boolean): NodeRecord {
  const kind = i % 10;
  const state = !mixed || kind >= 3
    ? NodeState.UP
    : [NodeState.NEW, NodeState.STANDBY, NodeState.DECOMMISSIONED][kind];
  const worker = mixed && state === NodeState.UP && i % 3 === 0;
  return create(NodeRecordSchema, {
    id: nodeId(pub),
    publicKey: pub,
    clusterUnlockKey: new Uint8Array(32).fill(i & 0xff),
    fsmState: state,
    roles: worker ? { kubernetesWorker: {} } : {},
    status: state === NodeState.NEW ? undefined : {
      externalAddress: `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`,
      timestamp: timestampNow(),
    },
    tpmUsage: NodeTPMUsage.NODE_TPM_USAGE_NOT_PRESENT,
    labels: {
      pairs: [
        { key: "bench.metropolis/index", value: String(i) },
        { key: "rack", value: `r${i % 40}` },
      ],
    },
  });
}

/** Random 32-byte public keys (node IDs only; nobody holds the private halves). */
export function randomPublicKeys(n: number): Uint8Array[] {
  return Array.from({ length: n }, () => crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * Writes `records` into `curatorKV` (the `curator/` namespace) in transactions of
 * {@link BATCH} puts; returns the IDs in write order.
 */
export async function seedRecords(curatorKV: KV, records: NodeRecord[]): Promise<string[]> {
  for (let i = 0; i < records.length; i += BATCH) {
    const ops = records.slice(i, i + BATCH).map((r) => ({
      put: nodeKey(r.id),
      value: toBinary(NodeRecordSchema, r),
    }));
    await curatorKV.txn([], ops);
  }
  return records.map((r) => r.id);
}

/**
 * Waits until the leader's node cache shows the seeded node `id` (records are applied in revision
 * order, so the last seeded one stands for all), at most 120 s.
 */
export async function waitSeededVisible(
  mgmt: { getNodes(req: { filter: string }): AsyncIterable<unknown> },
  id: string,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    let seen = 0;
    for await (const _ of mgmt.getNodes({ filter: `node.id == "${id}"` })) seen++;
    if (seen) return;
    if (Date.now() > deadline) throw new Error(`seeded node ${id} not visible after 120 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
