/** The all-nodes Watch backlog assembled from cached encodings equals protobuf-es's own events. */
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  WatchEvent_Progress,
  WatchEventSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { NodeSchema as NodeRecordSchema } from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import { NodeState } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { curatorNode, encodedCuratorNode } from "./view.ts";
import { backlogEvents, MAX_EVENT_BYTES } from "./watch.ts";

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
    const events = backlogEvents(records);
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
  const events = backlogEvents(records);
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
