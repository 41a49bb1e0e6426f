/** Watch events assembled from cached encodings equal protobuf-es's own; live changes coalesce. */
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  WatchEvent_Progress,
  WatchEventSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { NodeSchema as NodeRecordSchema } from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import { NodeState } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { curatorNode, encodedCuratorNode } from "./view.ts";
import { liveEvents, MAX_EVENT_BYTES, nodeEvents } from "./watch.ts";

function record(i: number, labelBytes = 0) {
  return create(NodeRecordSchema, {
    id: `metropolis-${i.toString(16).padStart(32, "0")}`,
    fsmState: i % 3 ? NodeState.UP : NodeState.NEW,
    roles: i % 2 ? { kubernetesWorker: {} } : {},
    status: { externalAddress: `10.0.${i >> 8}.${i & 255}`, runningCurator: { port: 7835 } },
    labels: labelBytes ? { pairs: [{ key: "big", value: "x".repeat(labelBytes) }] } : undefined,
  });
}

Deno.test("watch backlog: equal to toBinary of the events built from curatorNode", () => {
  for (const records of [[], [record(1)], Array.from({ length: 300 }, (_, i) => record(i))]) {
    const events = nodeEvents(records, true);
    assert.equal(events.length, 1);
    const want = toBinary(
      WatchEventSchema,
      create(WatchEventSchema, {
        nodes: records.map(curatorNode),
        progress: WatchEvent_Progress.LAST_BACKLOGGED,
      }),
    );
    assert.deepEqual(events[0], want);
  }
});

Deno.test("watch backlog: events split at the size bound, only the last marked, order kept", () => {
  // ≈ 300 KiB per node: six fit an event; a node above the bound gets an event of its own.
  const records = [
    ...Array.from({ length: 15 }, (_, i) => record(i, 300 * 1024)),
    record(99, MAX_EVENT_BYTES + 10),
    record(100),
  ];
  const events = nodeEvents(records, true);
  const decoded = events.map((e) => fromBinary(WatchEventSchema, e));
  assert.deepEqual(decoded.map((e) => e.nodes.length), [6, 6, 3, 1, 1]);
  assert.ok(events.slice(0, 3).every((e) => e.length <= MAX_EVENT_BYTES));
  assert.deepEqual(
    decoded.map((e) => e.progress),
    [0, 0, 0, 0, WatchEvent_Progress.LAST_BACKLOGGED],
  );
  assert.deepEqual(decoded.flatMap((e) => e.nodes.map((n) => n.id)), records.map((r) => r.id));
  // The cached encoding is reused while the record object is the same.
  assert.equal(encodedCuratorNode(records[0]), encodedCuratorNode(records[0]));
});

Deno.test("live events: each node once in its latest state, records then tombstones", () => {
  const [a1, b1, c1] = [record(1), record(2), record(3)];
  const a2 = create(NodeRecordSchema, { id: a1.id, fsmState: NodeState.UP });
  const events = liveEvents([
    { id: a1.id, record: a1 },
    { id: b1.id, record: b1 },
    { id: a1.id, record: a2 },
    { id: c1.id },
    { id: b1.id },
  ]);
  assert.equal(events.length, 2);
  assert.ok(events[0] instanceof Uint8Array);
  assert.deepEqual(
    events[0],
    toBinary(WatchEventSchema, create(WatchEventSchema, { nodes: [curatorNode(a2)] })),
  );
  assert.ok(!(events[1] instanceof Uint8Array));
  assert.deepEqual(events[1].nodeTombstones.map((t) => t.nodeId), [b1.id, c1.id]);
  // Nothing queued, nothing sent; a single change is one event of one node.
  assert.deepEqual(liveEvents([]), []);
  const one = liveEvents([{ id: c1.id, record: c1 }]);
  assert.equal(one.length, 1);
  assert.deepEqual(fromBinary(WatchEventSchema, one[0] as Uint8Array).nodes.map((n) => n.id), [
    c1.id,
  ]);
});
