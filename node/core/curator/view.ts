/**
 * Views of node records for the API: the public `metropolis.proto.api.Node` (with health, node.md
 * §12.6), the curator API's `Node` (Watch), and the cluster directory.
 */
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import type { Node as NodeRecord } from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import {
  type Node as ApiNode,
  Node_Health,
  NodeSchema as ApiNodeSchema,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import {
  type Node as CuratorNode,
  NodeSchema as CuratorNodeSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import {
  type ClusterDirectory,
  ClusterDirectory_Node_AddressSchema,
  ClusterDirectory_NodeSchema,
  ClusterDirectorySchema,
  NodeLabelsSchema,
  NodeRolesSchema,
  NodeState,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";

/** Heartbeat interval nodes use (project: 5 s). */
export const HEARTBEAT_INTERVAL_MS = 5_000;
/** A node without a heartbeat for this long is HEARTBEAT_TIMEOUT. */
export const HEARTBEAT_TIMEOUT_MS = 10_000;
/** Upstream's saturated duration for "never seen": seconds 9223372036, nanos 854775807. */
export const SATURATED_DURATION = { seconds: 9223372036n, nanos: 854775807 } as const;

/** Health and time since heartbeat of a node (node.md §12.6). */
export function health(
  state: NodeState,
  lastHeartbeat: number | undefined,
  leaderSince: number,
  now: number,
): { health: Node_Health; sinceMs: number | undefined } {
  const sinceMs = lastHeartbeat === undefined ? undefined : Math.max(0, now - lastHeartbeat);
  if (state !== NodeState.UP) return { health: Node_Health.UNKNOWN, sinceMs };
  if (sinceMs === undefined) {
    return {
      health: now - leaderSince < HEARTBEAT_TIMEOUT_MS
        ? Node_Health.UNKNOWN
        : Node_Health.HEARTBEAT_TIMEOUT,
      sinceMs,
    };
  }
  return {
    health: sinceMs > HEARTBEAT_TIMEOUT_MS ? Node_Health.HEARTBEAT_TIMEOUT : Node_Health.HEALTHY,
    sinceMs,
  };
}

/** Sorted copy of labels (by key). */
function sortedLabels(r: NodeRecord) {
  const pairs = [...(r.labels?.pairs ?? [])].sort((a, b) =>
    a.key < b.key ? -1 : a.key > b.key ? 1 : 0
  );
  return create(NodeLabelsSchema, { pairs });
}

/**
 * The public Node without health fields; cached by the leader per record (node.md §12.11: "per
 * node Node messages are cached by the leader and only health fields are computed per call").
 */
export function apiNodeBase(r: NodeRecord): ApiNode {
  return create(ApiNodeSchema, {
    pubkey: r.publicKey,
    state: r.fsmState,
    status: r.status,
    // roles is always set; role sub-messages present but empty.
    roles: create(NodeRolesSchema, {
      consensusMember: r.roles?.consensusMember ? {} : undefined,
      kubernetesController: r.roles?.kubernetesController ? {} : undefined,
      kubernetesWorker: r.roles?.kubernetesWorker ? {} : undefined,
    }),
    id: r.id,
    tpmUsage: r.tpmUsage,
    labels: sortedLabels(r),
  });
}

/** Fills health and time_since_heartbeat into a copy of a cached base Node. */
export function withHealth(
  base: ApiNode,
  lastHeartbeat: number | undefined,
  leaderSince: number,
  now: number,
): ApiNode {
  const h = health(base.state, lastHeartbeat, leaderSince, now);
  const d = h.sinceMs === undefined ? SATURATED_DURATION : {
    seconds: BigInt(Math.floor(h.sinceMs / 1000)),
    nanos: (h.sinceMs % 1000) * 1_000_000,
  };
  return {
    ...base,
    health: h.health,
    timeSinceHeartbeat: create(DurationSchema, d),
  };
}

/** The curator API's Node (Watch events). */
export function curatorNode(r: NodeRecord): CuratorNode {
  return create(CuratorNodeSchema, {
    id: r.id,
    roles: r.roles,
    status: r.status,
    clusternet: r.clusternet,
    state: r.fsmState,
    labels: sortedLabels(r),
  });
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/** Cluster directory: up to 15 UP nodes sorted by public key, address = external_address. */
export function clusterDirectory(records: Iterable<NodeRecord>): ClusterDirectory {
  const up = [...records].filter((r) => r.fsmState === NodeState.UP)
    .sort((a, b) => compareBytes(a.publicKey, b.publicKey)).slice(0, 15);
  return create(ClusterDirectorySchema, {
    nodes: up.map((r) =>
      create(ClusterDirectory_NodeSchema, {
        id: r.id,
        addresses: r.status?.externalAddress
          ? [create(ClusterDirectory_Node_AddressSchema, { host: r.status.externalAddress })]
          : [],
      })
    ),
  });
}
