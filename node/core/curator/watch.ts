/**
 * `Curator.Watch` (node.md §12.10): node_in_cluster (one node, one event per change) and
 * nodes_in_cluster (backlog in events of at most ~2 MiB, the last marked LAST_BACKLOGGED, then
 * live changes; deletions as tombstones). Served from the leader's node cache.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import {
  type WatchEvent,
  WatchEvent_Progress,
  WatchEventSchema,
  type WatchRequest,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { NodeSchema as CuratorNodeSchema } from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { isNodeId } from "../identity/nodeid.ts";
import type { NodeChange } from "./cache.ts";
import type { Leader } from "./leader.ts";
import { invalid, unavailable, unimplemented } from "./status.ts";
import { curatorNode } from "./view.ts";

/** Upper bound of one backlog event's encoded size. */
export const MAX_EVENT_BYTES = 2 * 1024 * 1024;

/** Streams WatchEvents until `signal` aborts or leadership is lost (then throws UNAVAILABLE). */
export async function* watch(
  leader: Leader,
  req: WatchRequest,
  signal: AbortSignal,
): AsyncGenerator<WatchEvent> {
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
      if (c) yield create(WatchEventSchema, { nodes: [curatorNode(c.record)] });
    } else {
      const ids = [...leader.cache.nodes.keys()].sort();
      let batch: ReturnType<typeof curatorNode>[] = [];
      let size = 0;
      for (const id of ids) {
        const n = curatorNode(leader.cache.nodes.get(id)!.record);
        const s = toBinary(CuratorNodeSchema, n).length + 8;
        if (batch.length && size + s > MAX_EVENT_BYTES) {
          yield create(WatchEventSchema, { nodes: batch });
          batch = [];
          size = 0;
        }
        batch.push(n);
        size += s;
      }
      yield create(WatchEventSchema, {
        nodes: batch,
        progress: WatchEvent_Progress.LAST_BACKLOGGED,
      });
    }
    for (;;) {
      while (queue.length) {
        const c = queue.shift()!;
        yield c.record
          ? create(WatchEventSchema, { nodes: [curatorNode(c.record)] })
          : create(WatchEventSchema, { nodeTombstones: [{ nodeId: c.id }] });
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
