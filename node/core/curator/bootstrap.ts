/**
 * Initial cluster state written by the bootstrap node (node.md §7.2 step 6): the cluster CA, the
 * node's certificate, and — in one transaction that only succeeds on an empty cluster — the node
 * record (UP, ConsensusMember + KubernetesController), the join-key index, the initial owner key
 * and the cluster configuration.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import {
  InitialOwnerSchema,
  NodeSchema as NodeRecordSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import {
  type ClusterConfiguration,
  ClusterConfigurationSchema,
  type NodeLabels_Pair,
  NodeLabelsSchema,
  type NodeRoles_ConsensusMember,
  NodeState,
  type NodeTPMUsage,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { CA } from "../../base/pki/ca.ts";
import { importEd25519Public } from "../../base/pki/keys.ts";
import { nodeId } from "../identity/nodeid.ts";
import { CLUSTER_CA_TEMPLATE, nodeTemplate } from "../identity/profiles.ts";
import type { KV } from "../consensus/kv.ts";
import { EtcdPkiStorage } from "../consensus/pkistorage.ts";
import {
  CLUSTER_CA_NAME,
  CLUSTER_CONFIGURATION_KEY,
  CLUSTER_PKI_NAMESPACE,
  INITIAL_OWNER_KEY,
  joinKeyKey,
  nodeKey,
} from "./keys.ts";

/** Inputs of {@link bootstrapCluster}. */
export interface BootstrapParams {
  /** Raw 32-byte node public key. */
  publicKey: Uint8Array;
  /** Raw 32-byte join public key. */
  joinKey: Uint8Array;
  /** Cluster unlock key (32 bytes; empty for INSECURE storage). */
  clusterUnlockKey: Uint8Array;
  tpmUsage: NodeTPMUsage;
  ownerPublicKey: Uint8Array;
  configuration: ClusterConfiguration;
  labels: NodeLabels_Pair[];
  /** This node's etcd membership data (CA, peer certificate, CRL). */
  consensusMember: NodeRoles_ConsensusMember;
}

/** The cluster CA in the curator namespace. */
export function clusterCA(rootKV: KV): CA {
  return new CA({
    storage: new EtcdPkiStorage(rootKV.namespace("curator/").namespace(CLUSTER_PKI_NAMESPACE)),
    name: CLUSTER_CA_NAME,
    template: CLUSTER_CA_TEMPLATE,
  });
}

/**
 * Writes the initial state; idempotent for the same node (a restarted bootstrap finds its record
 * and returns the same certificates). Returns CA and node certificate (DER).
 */
export async function bootstrapCluster(
  rootKV: KV,
  p: BootstrapParams,
): Promise<{ caCertificate: Uint8Array; nodeCertificate: Uint8Array }> {
  if (p.ownerPublicKey.length !== 32) throw new Error("owner_public_key must be 32 bytes");
  const kv = rootKV.namespace("curator/");
  const ca = clusterCA(rootKV);
  const id = nodeId(p.publicKey);
  const caCertificate = await ca.certificate();
  const nodeCertificate = await ca.ensure(
    id,
    nodeTemplate(id),
    await importEd25519Public(p.publicKey),
  );
  const record = create(NodeRecordSchema, {
    id,
    publicKey: p.publicKey,
    clusterUnlockKey: p.clusterUnlockKey,
    fsmState: NodeState.UP,
    roles: { consensusMember: p.consensusMember, kubernetesController: {} },
    joinKey: p.joinKey,
    tpmUsage: p.tpmUsage,
    labels: create(NodeLabelsSchema, {
      pairs: [...p.labels].sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
    }),
  });
  const r = await kv.txn(
    [
      { key: nodeKey(id), target: "create", op: "==", value: 0n },
      { key: INITIAL_OWNER_KEY, target: "create", op: "==", value: 0n },
    ],
    [
      { put: nodeKey(id), value: toBinary(NodeRecordSchema, record) },
      { put: joinKeyKey(p.joinKey), value: id },
      {
        put: INITIAL_OWNER_KEY,
        value: toBinary(
          InitialOwnerSchema,
          create(InitialOwnerSchema, {
            publicKey: p.ownerPublicKey,
          }),
        ),
      },
      {
        put: CLUSTER_CONFIGURATION_KEY,
        value: toBinary(ClusterConfigurationSchema, p.configuration),
      },
    ],
    [{ get: nodeKey(id) }],
  );
  if (!r.succeeded && !r.gets[0]) {
    throw new Error("cluster state exists but has no record of this node: not a fresh cluster");
  }
  return { caCertificate, nodeCertificate };
}
