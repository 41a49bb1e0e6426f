import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  NodeSchema,
  WatchEvent_Progress,
  WatchEventSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { Value } from "../../base/event/value.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { type Context, run, signal, Supervisor } from "../../base/supervisor/supervisor.ts";
import { RecordingTiming, waitUntil } from "../../base/supervisor/testing.ts";
import { startTestCurator } from "../curator/testing.ts";
import { testLeaderClients } from "./testing.ts";
import type { KnownNode, LeaderClients, RoleContext } from "./context.ts";
import { nodewatch } from "./rolefetch.ts";

/** Supervises `w` as `root.nodewatch`; restarts fire at once. */
function supervise(w: (ctx: Context) => Promise<void>) {
  return new Supervisor(new LogTree(), async (ctx) => {
    run(ctx, "nodewatch", w);
    signal(ctx, "healthy");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  }, { timing: new RecordingTiming(), onRootExit: () => {} });
}

/** The parts of a RoleContext nodewatch uses. */
function roleContext(leaderClients: Pick<LeaderClients, "client">): RoleContext {
  const learned: string[][] = [];
  return {
    nodes: new Value<Map<string, KnownNode>>(new Map()),
    leaderClients,
    resolver: { learn: (c: { nodeId: string }[]) => learned.push(c.map((x) => x.nodeId)) },
  } as unknown as RoleContext;
}

Deno.test("nodewatch: publishes every node once the leader's backlog is in, then is Healthy", async () => {
  const c = await startTestCurator();
  const { clients, close } = testLeaderClients(c);
  const rc = roleContext(clients);
  const s = supervise(nodewatch(rc, () => assert.fail("no delay before the first watch")));
  try {
    await waitUntil(() => s.state("root.nodewatch") === "HEALTHY", "nodewatch Healthy", 15_000);
    assert.deepEqual([...rc.nodes.get()!.keys()], [c.nodeId]);
    assert.equal(rc.nodes.get()!.get(c.nodeId)?.consensusMember, true);
  } finally {
    await s.stop();
    await close();
    await c.stop();
  }
});

Deno.test("nodewatch: after losing the watch it keeps its list and waits its delay before watching again", async () => {
  const node = (id: string) => create(NodeSchema, { id });
  const backlog = (...ids: string[]) =>
    create(WatchEventSchema, {
      nodes: ids.map(node),
      progress: WatchEvent_Progress.LAST_BACKLOGGED,
    });
  const watches: number[] = [];
  const client = {
    // The first leader sends two nodes and fails; the next one sends one node and stays.
    watch(_req: unknown, o: { signal: AbortSignal }) {
      watches.push(performance.now());
      const first = watches.length === 1;
      return (async function* () {
        if (first) {
          yield backlog("a", "b");
          throw new Error("leader gone");
        }
        yield backlog("a");
        await new Promise((r) => o.signal.addEventListener("abort", r));
      })();
    },
  };
  const rc = roleContext({ client: () => Promise.resolve(client) } as never);
  const asked: number[] = [];
  let waitStarted = 0;
  const s = supervise(nodewatch(rc, (known) => {
    asked.push(known);
    waitStarted = performance.now();
    return 300;
  }));
  try {
    await waitUntil(() => asked.length === 1, "a re-watch delay asked for", 5_000);
    assert.deepEqual(asked, [2], "asked with the number of nodes it knows");
    assert.deepEqual([...rc.nodes.get()!.keys()], ["a", "b"], "the list is kept while it waits");
    assert.notEqual(s.state("root.nodewatch"), "HEALTHY", "not Healthy while waiting");
    await waitUntil(
      () => s.state("root.nodewatch") === "HEALTHY",
      "nodewatch Healthy again",
      5_000,
    );
    assert.equal(watches.length, 2);
    assert.ok(
      watches[1] - waitStarted >= 290,
      `watched again after ${watches[1] - waitStarted} ms`,
    );
    assert.deepEqual([...rc.nodes.get()!.keys()], ["a"], "the new backlog replaces the list");
  } finally {
    await s.stop();
  }
});
