/**
 * `Curator.Watch` (node.md §12.10): node_in_cluster (one node, one event per change) and
 * nodes_in_cluster (backlog in events of at most ~2 MiB, the last marked LAST_BACKLOGGED, then
 * live changes; deletions as tombstones). Served from the leader's node cache.
 */
import { create } from "@bufbuild/protobuf";
import {
  type WatchEvent,
  WatchEvent_Progress,
  WatchEventSchema,
  type WatchRequest,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import type { Node as NodeRecord } from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import { isNodeId } from "../identity/nodeid.ts";
import type { NodeChange } from "./cache.ts";
import type { Leader } from "./leader.ts";
import { invalid, unavailable, unimplemented } from "./status.ts";
import { encodedCuratorNode, putVarint, varintLength } from "./view.ts";

/** Upper bound of one backlog event's encoded size. */
export const MAX_EVENT_BYTES = 2 * 1024 * 1024;

/** WatchEvent's `nodes` (field 1, length-delimited) and `progress` (field 2, varint) tags. */
const NODES_TAG = 0x0a;
const PROGRESS_TAG = 0x10;

/**
 * `records` as encoded WatchEvents, each at most {@link MAX_EVENT_BYTES} (a larger single node
 * gets an event of its own); with `lastBacklogged` the last one is marked LAST_BACKLOGGED.
 * Byte-identical to `toBinary` of the events built from `curatorNode` (view.ts), but assembled from
 * each record's cached encoding ({@link encodedCuratorNode}) rather than built and encoded per
 * watcher: a new leader serves one backlog per node at once, and encoding them was ≈ 13 µs per
 * node of each backlog; a change goes to every node's watch.
 */
export function nodeEvents(records: readonly NodeRecord[], lastBacklogged: boolean): Uint8Array[] {
  const out: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  let size = 0;
  const flush = (last: boolean) => {
    const ev = new Uint8Array(size + (last ? 2 : 0));
    let at = 0;
    for (const b of parts) {
      ev[at++] = NODES_TAG;
      at = putVarint(ev, at, b.length);
      ev.set(b, at);
      at += b.length;
    }
    if (last) {
      ev[at++] = PROGRESS_TAG;
      ev[at++] = WatchEvent_Progress.LAST_BACKLOGGED;
    }
    out.push(ev);
    parts = [];
    size = 0;
  };
  for (const r of records) {
    const b = encodedCuratorNode(r);
    const s = 1 + varintLength(b.length) + b.length;
    if (parts.length && size + s > MAX_EVENT_BYTES) flush(false);
    parts.push(b);
    size += s;
  }
  if (parts.length || lastBacklogged) flush(lastBacklogged);
  return out;
}

/**
 * The live events for `changes` (queued in order, oldest first): each node once, as its latest
 * state, records first, then deletions as tombstones. A watcher that fell behind — every node
 * reporting its status to a new leader — gets a few events instead of one per change.
 */
export function liveEvents(changes: readonly NodeChange[]): (Uint8Array | WatchEvent)[] {
  const latest = new Map<string, NodeRecord | undefined>();
  for (const c of changes) latest.set(c.id, c.record);
  const records: NodeRecord[] = [];
  const deleted: string[] = [];
  for (const [id, r] of latest) r ? records.push(r) : deleted.push(id);
  const out: (Uint8Array | WatchEvent)[] = nodeEvents(records, false);
  if (deleted.length) {
    out.push(
      create(WatchEventSchema, { nodeTombstones: deleted.map((nodeId) => ({ nodeId })) }),
    );
  }
  return out;
}

/**
 * Streams WatchEvents until `signal` aborts or leadership is lost (then throws UNAVAILABLE); nodes
 * come already encoded ({@link nodeEvents}).
 */
export async function* watch(
  leader: Leader,
  req: WatchRequest,
  signal: AbortSignal,
): AsyncGenerator<WatchEvent | Uint8Array> {
  if (req.kind.case === undefined) throw unimplemented("watch kind must be set");
  let only: string | undefined;
  if (req.kind.case === "nodeInCluster") {
    only = req.kind.value.nodeId;
    if (!isNodeId(only)) throw invalid(`node_id "${only}" is not a node ID`);
  }
  // Subscribe before reading the snapshot so no change falls between the two.
  const queue: NodeChange[] = [];
  let wake: (() => void) | undefined;
  const unsubscribe = leader.cache.subscribe((c) => {
    if (only !== undefined && c.id !== only) return;
    queue.push(c);
    wake?.();
  });
  const stop = () => wake?.();
  signal.addEventListener("abort", stop);
  leader.leadership.lost.addEventListener("abort", stop);
  try {
    await leader.cache.sync();
    if (only !== undefined) {
      const c = leader.cache.nodes.get(only);
      if (c) yield* nodeEvents([c.record], false);
    } else {
      const ids = leader.cache.sortedIds();
      yield* nodeEvents(ids.map((id) => leader.cache.nodes.get(id)!.record), true);
    }
    for (;;) {
      if (queue.length) {
        // Everything queued while the last event was written goes out together.
        yield* liveEvents(queue.splice(0));
        continue;
      }
      if (signal.aborted) return;
      if (leader.leadership.lost.aborted) throw unavailable("curator leadership lost");
      await new Promise<void>((r) => wake = r);
      wake = undefined;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", stop);
    leader.leadership.lost.removeEventListener("abort", stop);
  }
}
