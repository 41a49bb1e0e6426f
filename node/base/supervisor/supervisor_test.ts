import assert from "node:assert/strict";
import { LogTree } from "../logtree/logtree.ts";
import { type Context, run, runGroup, signal, subLogger, Supervisor } from "./supervisor.ts";
import { RecordingTiming, waitUntil } from "./testing.ts";

/** Starts a supervisor whose root runs `body` then waits for abort. */
function start(
  body: (ctx: Context) => void | Promise<void>,
  timing = new RecordingTiming(),
  onRootExit?: (e: Error) => void,
) {
  const tree = new LogTree();
  const s = new Supervisor(tree, async (ctx) => {
    await body(ctx);
    signal(ctx, "healthy");
    await forever(ctx);
  }, { timing, onRootExit: onRootExit ?? (() => {}), rootExitDelayMs: 0 });
  return { tree, s, timing };
}

const forever = (ctx: Context) =>
  new Promise<void>((r) => {
    if (ctx.signal.aborted) r();
    ctx.signal.addEventListener("abort", () => r());
  });

Deno.test("§4.3 checkable: 6 immediate failures → backoff midpoints 0.5 … 3.8 s", async () => {
  let runs = 0;
  const { s, timing } = start((ctx) => {
    run(ctx, "flaky", () => {
      runs++;
      return Promise.reject(new Error("boom"));
    });
  });
  await waitUntil(() => runs >= 7, "7 runs");
  await s.stop();
  assert.deepEqual(timing.delays.slice(0, 6), [500, 750, 1125, 1687.5, 2531.25, 3796.875]);
});

Deno.test("§4.2 Done rules and returning without Done", async () => {
  const errs: string[] = [];
  const { s, tree } = start((ctx) => {
    run(ctx, "done", async (c) => {
      assert.throws(() => signal(c, "done"), /signal Done from state NEW/);
      signal(c, "healthy");
      assert.throws(() => signal(c, "healthy"), /signal Healthy from state HEALTHY/);
      signal(c, "done");
      try {
        signal(c, "done");
      } catch (e) {
        errs.push((e as Error).message);
      }
      await Promise.resolve();
    });
    run(ctx, "noDone", async (c) => {
      signal(c, "healthy");
      await Promise.resolve();
    });
  });
  await waitUntil(() => s.state("root.done") === "DONE", "DONE");
  await waitUntil(
    () =>
      tree.read("root.noDone", { backlog: "all" }).backlog.some((e) =>
        e.leveled?.severity === "FATAL" &&
        e.leveled.lines[0].includes("runnable returned without signalling Done")
      ),
    "FATAL entry",
  );
  await s.stop();
  assert.deepEqual(errs, ["root.done: signal Done twice"]);
});

Deno.test("§4.3 group sibling is CANCELED and restarted without delay", async () => {
  let aRuns = 0, bRuns = 0;
  const states: string[] = [];
  const { s, timing } = start((ctx) => {
    runGroup(ctx, {
      a: async (c) => {
        aRuns++;
        signal(c, "healthy");
        if (aRuns === 1) {
          await new Promise((r) => setTimeout(r, 5));
          throw new Error("a fails");
        }
        await forever(c);
      },
      b: async (c) => {
        bRuns++;
        signal(c, "healthy");
        await forever(c);
      },
    });
  });
  await waitUntil(() => s.state("root.b") === "CANCELED" || bRuns >= 2, "b canceled");
  states.push(s.state("root.a")!);
  await waitUntil(() => aRuns === 2 && bRuns === 2, "both restarted");
  await s.stop();
  assert.ok(timing.delays.includes(0), "b restarted with delay 0");
  assert.ok(timing.delays.includes(500), "a restarted with backoff 0.5 s");
});

Deno.test("§4.3 grandchild aborted when grandparent fails", async () => {
  let grandAborted = 0;
  let parentRuns = 0;
  const { s } = start((ctx) => {
    run(ctx, "gp", async (c) => {
      parentRuns++;
      run(c, "p", async (c2) => {
        run(c2, "gc", async (c3) => {
          signal(c3, "healthy");
          await forever(c3);
          grandAborted++;
        });
        signal(c2, "healthy");
        await forever(c2);
      });
      signal(c, "healthy");
      await new Promise((r) => setTimeout(r, 10));
      if (parentRuns === 1) throw new Error("gp fails");
      await forever(c);
    });
  });
  await waitUntil(() => grandAborted >= 1 && parentRuns >= 2, "grandchild aborted");
  await waitUntil(() => s.state("root.gp.p.gc") === "HEALTHY", "grandchild restarted");
  await s.stop();
});

Deno.test("§4.1 names: length, dots, whitespace, duplicates, sub-logger clash", async () => {
  const errors: string[] = [];
  const { s } = start((ctx) => {
    for (const n of ["", "a.b", "a b", "x".repeat(65)]) {
      try {
        run(ctx, n, forever);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    run(ctx, "x".repeat(64), forever);
    run(ctx, "dup", forever);
    assert.throws(() => run(ctx, "dup", forever), /already exists/);
    subLogger(ctx, "sub");
    assert.throws(() => run(ctx, "sub", forever), /taken by a sub-logger/);
    assert.throws(() => subLogger(ctx, "dup"), /taken by a runnable/);
  });
  await waitUntil(() => s.state("root.dup") === "NEW" && s.state("root") === "HEALTHY", "root");
  await s.stop();
  assert.equal(errors.length, 4);
  assert.match(errors[0], /1-64 characters/);
  assert.match(errors[1], /contains "\."/);
  assert.match(errors[2], /whitespace/);
  assert.match(errors[3], /1-64 characters/);
});
