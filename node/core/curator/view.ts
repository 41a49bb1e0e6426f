/**
 * Views of node records for the API: the public `metropolis.proto.api.Node` (with health, node.md
 * §12.6), the curator API's `Node` (Watch), and the cluster directory.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
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

/**
 * A node without a heartbeat for this long is HEARTBEAT_TIMEOUT; a new leader reports UNKNOWN for
 * this long after taking over (two of the interval nodes send at, roleserve/heartbeat.ts).
 */
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

/** The per-call fields of a public Node: health and time_since_heartbeat (as seconds/nanos). */
export interface HealthFields {
  health: Node_Health;
  seconds: bigint;
  nanos: number;
}

/** Health fields of a node in `state` (node.md §12.6). */
export function healthFields(
  state: NodeState,
  lastHeartbeat: number | undefined,
  leaderSince: number,
  now: number,
): HealthFields {
  const h = health(state, lastHeartbeat, leaderSince, now);
  return h.sinceMs === undefined ? { health: h.health, ...SATURATED_DURATION } : {
    health: h.health,
    seconds: BigInt(Math.floor(h.sinceMs / 1000)),
    nanos: (h.sinceMs % 1000) * 1_000_000,
  };
}

/** A copy of a cached base Node with the given health fields. */
export function nodeWithHealth(base: ApiNode, h: HealthFields): ApiNode {
  return {
    ...base,
    health: h.health,
    timeSinceHeartbeat: create(DurationSchema, { seconds: h.seconds, nanos: h.nanos }),
  };
}

/** Fills health and time_since_heartbeat into a copy of a cached base Node. */
export function withHealth(
  base: ApiNode,
  lastHeartbeat: number | undefined,
  leaderSince: number,
  now: number,
): ApiNode {
  return nodeWithHealth(base, healthFields(base.state, lastHeartbeat, leaderSince, now));
}

/**
 * A cached public Node (without health) and its wire encoding split around the health fields:
 * `head` holds fields 1–4 (pubkey, state, status, roles), `tail` fields 7–9 (id, tpm_usage,
 * labels). Health (5) and time_since_heartbeat (6) sit between them, so `head ‖ health ‖ tail`
 * is byte for byte what `toBinary` gives for the whole message (protobuf-es writes fields in
 * field-number order), and a GetNodes call encodes only the two per-call fields per node.
 */
export interface CachedApiNode {
  base: ApiNode;
  head: Uint8Array;
  tail: Uint8Array;
}

/** Builds the {@link CachedApiNode} of a record. */
export function cachedApiNode(r: NodeRecord): CachedApiNode {
  const base = apiNodeBase(r);
  const head = toBinary(
    ApiNodeSchema,
    create(ApiNodeSchema, {
      pubkey: base.pubkey,
      state: base.state,
      status: base.status,
      roles: base.roles,
    }),
  );
  const tail = toBinary(
    ApiNodeSchema,
    create(ApiNodeSchema, { id: base.id, tpmUsage: base.tpmUsage, labels: base.labels }),
  );
  return { base, head, tail };
}

/**
 * The wire encoding of `c` with health fields `h`; equal to
 * `toBinary(ApiNodeSchema, nodeWithHealth(c.base, h))`. Zero values are omitted as proto3 does;
 * the Duration is always present (withHealth always sets it).
 */
export function encodeWithHealth(c: CachedApiNode, h: HealthFields): Uint8Array {
  const out = new Uint8Array(encodedLengthWithHealth(c, h));
  encodeWithHealthInto(out, 0, c, h);
  return out;
}

/** Whether {@link encodeWithHealthInto} writes `h` by hand (else through BinaryWriter). */
function simple(h: HealthFields, seconds: number): boolean {
  return seconds >= 0 && seconds <= Number.MAX_SAFE_INTEGER && Number.isInteger(h.nanos) &&
    h.nanos >= 0 && h.health >= 0;
}

/** Length of the Duration's body: field 1 (seconds), field 2 (nanos), each only if non-zero. */
function durationLength(seconds: number, nanos: number): number {
  return (seconds === 0 ? 0 : 1 + varintLength(seconds)) +
    (nanos === 0 ? 0 : 1 + varintLength(nanos));
}

/** Bytes of {@link encodeWithHealth}'s result, without encoding it. */
export function encodedLengthWithHealth(c: CachedApiNode, h: HealthFields): number {
  const seconds = Number(h.seconds);
  if (!simple(h, seconds)) return encodeWithWriter(c, h).length;
  const healthLen = h.health === 0 ? 0 : 1 + varintLength(h.health);
  return c.head.length + healthLen + 2 + durationLength(seconds, h.nanos) + c.tail.length;
}

/**
 * Writes {@link encodeWithHealth}'s bytes into `out` at `p` (room for
 * {@link encodedLengthWithHealth} bytes); returns the end. GetNodes encodes straight into its
 * batches of framed messages this way (framed.ts).
 */
export function encodeWithHealthInto(
  out: Uint8Array,
  p: number,
  c: CachedApiNode,
  h: HealthFields,
): number {
  const seconds = Number(h.seconds);
  if (!simple(h, seconds)) {
    const whole = encodeWithWriter(c, h);
    out.set(whole, p);
    return p + whole.length;
  }
  // Hand-written varints over numbers (not bigints): BinaryWriter's buffer management, and then
  // bigint arithmetic, cost more than the rest of a GetNodes call per node.
  out.set(c.head, p);
  p += c.head.length;
  if (h.health !== 0) {
    out[p++] = (5 << 3) | 0;
    p = putVarint(out, p, h.health);
  }
  out[p++] = (6 << 3) | 2;
  out[p++] = durationLength(seconds, h.nanos); // at most 22 bytes: a one-byte length
  if (seconds !== 0) {
    out[p++] = (1 << 3) | 0;
    p = putVarint(out, p, seconds);
  }
  if (h.nanos !== 0) {
    out[p++] = (2 << 3) | 0;
    p = putVarint(out, p, h.nanos);
  }
  out.set(c.tail, p);
  return p + c.tail.length;
}

/** {@link encodeWithHealth} through protobuf-es's BinaryWriter (any value, incl. negative). */
function encodeWithWriter(c: CachedApiNode, h: HealthFields): Uint8Array {
  const w = new BinaryWriter();
  if (h.health !== 0) w.tag(5, WireType.Varint).int32(h.health);
  w.tag(6, WireType.LengthDelimited).fork();
  if (h.seconds !== 0n) w.tag(1, WireType.Varint).int64(h.seconds);
  if (h.nanos !== 0) w.tag(2, WireType.Varint).int32(h.nanos);
  const mid = w.join().finish();
  const out = new Uint8Array(c.head.length + mid.length + c.tail.length);
  out.set(c.head, 0);
  out.set(mid, c.head.length);
  out.set(c.tail, c.head.length + mid.length);
  return out;
}

/** Bytes of the varint of `v` (a non-negative safe integer). */
export function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Writes the varint of `v` (a non-negative safe integer) at `p`; returns the end. */
export function putVarint(out: Uint8Array, p: number, v: number): number {
  while (v >= 0x80) {
    out[p++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[p++] = v;
  return p;
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

const encodedCuratorNodes = new WeakMap<NodeRecord, Uint8Array>();

/**
 * `toBinary` of {@link curatorNode}, kept per record object (a changed record is a new object, so
 * an entry never goes stale and goes with its record): every node's all-nodes watch sends every
 * record, and a new leader serves all those backlogs at once.
 */
export function encodedCuratorNode(r: NodeRecord): Uint8Array {
  let b = encodedCuratorNodes.get(r);
  if (!b) {
    b = toBinary(CuratorNodeSchema, curatorNode(r));
    encodedCuratorNodes.set(r, b);
  }
  return b;
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
