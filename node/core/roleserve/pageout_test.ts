import assert from "node:assert/strict";
import { Value } from "../../base/event/value.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { run, type Runnable, signal, Supervisor } from "../../base/supervisor/supervisor.ts";
import { RecordingTiming, waitUntil } from "../../base/supervisor/testing.ts";
import type { PageoutResult } from "../../base/sys/pageout.ts";
import { pageout } from "./pageout.ts";

const SETTLE_MS = 80;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Supervises `w` as `root.pageout`. */
function supervise(w: Runnable) {
  return new Supervisor(new LogTree(), async (ctx) => {
    run(ctx, "pageout", w);
    signal(ctx, "healthy");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  }, { timing: new RecordingTiming(), onRootExit: () => {} });
}

/** A page-out that counts its calls and answers `result`. */
function counting(result: PageoutResult = { advised: 1, rssFileBeforeKb: 2, rssFileAfterKb: 1 }) {
  const calls: number[] = [];
  return { calls, pageOut: () => (calls.push(performance.now()), result) };
}

Deno.test("pageout: pages out once the roles have held for the settling time, not before", async () => {
  const roles = new Value<unknown>();
  const p = counting();
  const s = supervise(pageout({ roles, pageOut: p.pageOut, settleMs: SETTLE_MS }));
  try {
    await waitUntil(() => s.state("root.pageout") === "HEALTHY", "pageout Healthy");
    await pause(2 * SETTLE_MS);
    assert.equal(p.calls.length, 0, "no roles yet: nothing loaded, nothing paged out");
    const t0 = performance.now();
    roles.set({ consensusMember: true });
    await waitUntil(() => p.calls.length === 1, "first page-out");
    assert.ok(p.calls[0] - t0 >= SETTLE_MS - 5, `paged out after ${p.calls[0] - t0} ms`);
    await pause(3 * SETTLE_MS);
    assert.equal(p.calls.length, 1, "unchanged roles: one page-out");
  } finally {
    await s.stop();
  }
});

Deno.test("pageout: a change while settling starts the wait over; a later change pages out again", async () => {
  const roles = new Value<unknown>({});
  const p = counting();
  const s = supervise(pageout({ roles, pageOut: p.pageOut, settleMs: SETTLE_MS }));
  try {
    await pause(SETTLE_MS / 2);
    const t1 = performance.now();
    roles.set({ kubernetesWorker: true });
    await waitUntil(() => p.calls.length === 1, "page-out after the second value");
    assert.ok(p.calls[0] - t1 >= SETTLE_MS - 5, `paged out ${p.calls[0] - t1} ms after the change`);
    roles.set({});
    await waitUntil(() => p.calls.length === 2, "page-out after a later change");
    await pause(2 * SETTLE_MS);
    assert.equal(p.calls.length, 2);
  } finally {
    await s.stop();
  }
});

Deno.test("pageout: a kernel that refuses the advice is told once, then the runnable is Done", async () => {
  const roles = new Value<unknown>({});
  const p = counting({ advised: 0, rssFileBeforeKb: 1, rssFileAfterKb: 1, error: "EINVAL" });
  const s = supervise(pageout({ roles, pageOut: p.pageOut, settleMs: SETTLE_MS }));
  try {
    await waitUntil(() => s.state("root.pageout") === "DONE", "pageout Done");
    roles.set({ consensusMember: true });
    await pause(2 * SETTLE_MS);
    assert.equal(p.calls.length, 1);
  } finally {
    await s.stop();
  }
});
