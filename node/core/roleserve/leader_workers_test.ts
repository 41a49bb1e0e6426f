import assert from "node:assert/strict";
import { LogTree } from "../../base/logtree/logtree.ts";
import { type Context, signal, Supervisor } from "../../base/supervisor/supervisor.ts";
import { HeldBackoffTiming, waitUntil } from "../../base/supervisor/testing.ts";
import type { Leader } from "../rpc/resolver.ts";
import { runLeaderWorkers } from "./leader_workers.ts";

Deno.test("leader workers: one that failed against the old leader restarts at once on a new one", async () => {
  // A restart after a backoff never comes here; one without delay at once.
  const timing = new HeldBackoffTiming();
  const delays = timing.delays;
  let listener: ((l: Leader | undefined) => void) | undefined;
  const resolver = {
    onChange(fn: (l: Leader | undefined) => void) {
      listener = fn;
      return () => listener = undefined;
    },
  };
  let leader = "A";
  const dialled: string[] = [];
  const s = new Supervisor(new LogTree(), async (ctx) => {
    runLeaderWorkers(ctx, resolver, {
      heartbeat: async (c: Context) => {
        dialled.push(leader);
        // The old leader refuses; the new one answers.
        if (leader === "A") throw new Error("connect ECONNREFUSED");
        signal(c, "healthy");
        await new Promise((r) => c.signal.addEventListener("abort", r));
      },
    });
    signal(ctx, "healthy");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  }, { timing, onRootExit: () => {} });
  try {
    await waitUntil(() => delays.length === 1, "the heartbeat waits out its backoff");
    listener!(undefined); // leader lost: nothing to retry against
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(dialled, ["A"]);
    leader = "B";
    listener!({ nodeId: "B", address: "b:7835" });
    await waitUntil(() => s.state("root.heartbeat") === "HEALTHY", "heartbeat on B");
    assert.deepEqual(dialled, ["A", "B"]);
    assert.deepEqual(delays, [500, 0], "restarted at once, not after its backoff");
  } finally {
    await s.stop();
  }
  assert.equal(listener, undefined, "unsubscribed when the roleserver stopped");
});
