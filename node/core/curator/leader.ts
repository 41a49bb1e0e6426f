/**
 * State and guarded storage access of a curator leader (node.md §12.1, §12.4).
 *
 * Every write is one etcd transaction that includes the leadership guard. When the guard fails,
 * leadership is lost: the write is refused with UNAVAILABLE and the leadership signal aborts, so
 * the serving loop stops leader services and campaigns again.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type Node as NodeRecord,
  NodeSchema as NodeRecordSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import type { CA } from "../../base/pki/ca.ts";
import type { Compare, KV, Op, TxnResult } from "../consensus/kv.ts";
import type { NodeCache } from "./cache.ts";
import type { Leadership } from "./election.ts";
import { nodeKey } from "./keys.ts";
import { unavailable } from "./status.ts";
import type { ConsensusControl } from "./consensus_control.ts";

/** Everything leader services need. */
export interface LeaderOptions {
  /** The `curator/` namespace. */
  kv: KV;
  /** The etcd root (for the Kubernetes PKI namespace). */
  rootKV: KV;
  leadership: Leadership;
  /** This node's ID. */
  nodeId: string;
  cache: NodeCache;
  /** The cluster CA (in `curator/cluster-pki/`). */
  ca: CA;
  consensus: ConsensusControl;
  /** Clock in ms (tests inject one). */
  now?: () => number;
}

/** A record read straight from etcd with its mod revision (for compare-and-swap). */
export interface StoredNode {
  record: NodeRecord;
  modRevision: bigint;
}

/** See the module comment. */
export class Leader {
  readonly kv: KV;
  readonly rootKV: KV;
  readonly leadership: Leadership;
  readonly nodeId: string;
  readonly cache: NodeCache;
  readonly ca: CA;
  readonly consensus: ConsensusControl;
  readonly now: () => number;
  /** When this node became leader (ms). */
  readonly since: number;
  /** Last heartbeat per node ID (ms); lives only in this leader's memory. */
  readonly heartbeats: Map<string, number> = new Map();

  /** Wraps one term of leadership. */
  constructor(o: LeaderOptions) {
    this.kv = o.kv;
    this.rootKV = o.rootKV;
    this.leadership = o.leadership;
    this.nodeId = o.nodeId;
    this.cache = o.cache;
    this.ca = o.ca;
    this.consensus = o.consensus;
    this.now = o.now ?? Date.now;
    this.since = this.now();
  }

  /** Throws UNAVAILABLE when leadership is gone. */
  checkLeading(): void {
    if (this.leadership.lost.aborted) throw unavailable("this node lost curator leadership");
  }

  /**
   * Runs a transaction guarded by leadership and `compares`. Returns the result when the
   * compares held (succeeded) or failed (not succeeded); throws UNAVAILABLE when leadership was
   * lost. Writes to `nodes/` are reported to the cache for read-your-writes.
   */
  async txn(compares: Compare[], ops: Op[], otherwise: Op[] = []): Promise<TxnResult> {
    this.checkLeading();
    const guard = this.leadership.guard;
    const r = await this.kv.txn([guard, ...compares], ops, [{ get: guard.key }, ...otherwise]);
    if (!r.succeeded) {
      const own = r.gets[0];
      if (!own || own.createRevision !== guard.value) {
        await this.leadership.resign().catch(() => {});
        throw unavailable("this node lost curator leadership");
      }
      return { ...r, gets: r.gets.slice(1) };
    }
    if (ops.some((o) => ("put" in o && o.put.startsWith("nodes/")) || "delete" in o)) {
      this.cache.noteWrite(r.revision);
    }
    return r;
  }

  /** Reads a node record from etcd (linearizable). */
  async readNode(id: string): Promise<StoredNode | undefined> {
    const e = await this.kv.get(nodeKey(id));
    return e && { record: fromBinary(NodeRecordSchema, e.value), modRevision: e.modRevision };
  }

  /**
   * Read-modify-write of one node record with compare-and-swap, retried on conflicts.
   * `fn` returns the new record, or undefined to leave it unchanged; it may throw a StatusError.
   * `extraOps` are written in the same transaction.
   */
  async updateNode(
    id: string,
    fn: (r: NodeRecord) => NodeRecord | undefined,
    extraOps: (r: NodeRecord) => Op[] = () => [],
  ): Promise<NodeRecord | undefined> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const cur = await this.readNode(id);
      if (!cur) return undefined;
      const next = fn(create(NodeRecordSchema, cur.record));
      if (!next) return cur.record;
      const r = await this.txn(
        [{ key: nodeKey(id), target: "mod", op: "==", value: cur.modRevision }],
        [{ put: nodeKey(id), value: toBinary(NodeRecordSchema, next) }, ...extraOps(next)],
      );
      if (r.succeeded) return next;
    }
    throw unavailable(`node ${id}: too many concurrent updates`);
  }
}
