import assert from "node:assert/strict";
import { LogTree } from "../logtree/logtree.ts";
import {
  type Context,
  retryNow,
  run,
  runGroup,
  signal,
  subLogger,
  Supervisor,
} from "./supervisor.ts";
import { HeldBackoffTiming, RecordingTiming, waitUntil } from "./testing.ts";

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

/** Records every distinct state `dn` goes through until `stop()` is called. */
function recordStates(s: Supervisor, dn: string) {
  const seen: string[] = [];
  let on = true;
  (async () => {
    while (on) {
      const st = s.state(dn);
      if (st && seen.at(-1) !== st) seen.push(st);
      await s.changed();
    }
  })();
  return { seen, stop: () => on = false };
}

Deno.test("§4.3 group sibling is CANCELED and restarted without delay", async () => {
  let aRuns = 0, bRuns = 0;
  const { s, timing, tree } = start((ctx) => {
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
        // Returning "any way" after the abort, even by throwing, is CANCELED, not DEAD.
        throw new Error("b after abort");
      },
    });
  });
  const rec = recordStates(s, "root.b");
  await waitUntil(() => aRuns === 2 && bRuns === 2, "both restarted");
  rec.stop();
  await s.stop();
  assert.deepEqual(timing.delays, [500, 0], "a: backoff 0.5 s, b: no delay");
  assert.match(rec.seen.join(","), /HEALTHY,CANCELED,(NEW,)?HEALTHY/);
  assert.equal(tree.read("root.b", { backlog: "all" }).backlog.length, 0, "no FATAL for b");
});

Deno.test("§4.3 grandchild aborted when grandparent fails", async () => {
  let grandAborted = 0;
  let parentRuns = 0;
  const { s, timing } = start((ctx) => {
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
  // Only the highest stopped node (gp) was restarted; p and gc came back through gp.
  assert.deepEqual(timing.delays, [500]);
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

Deno.test("§4.2 Healthy resets the backoff to base_1", async () => {
  let runs = 0;
  const { s, timing } = start((ctx) => {
    run(ctx, "r", async (c) => {
      runs++;
      // Runs 1, 2 fail before Healthy; run 3 becomes Healthy then fails; run 4 fails again.
      if (runs === 3) signal(c, "healthy");
      await Promise.resolve();
      throw new Error(`fail ${runs}`);
    });
  });
  await waitUntil(() => runs >= 5, "5 runs");
  await s.stop();
  assert.deepEqual(timing.delays.slice(0, 4), [500, 750, 500, 750]);
});

Deno.test("retryNow: a failed child restarts at once, its backoff reset; others keep theirs", async () => {
  // Restarts after a backoff never come (the test decides when to retry); without delay at once.
  const timing = new HeldBackoffTiming();
  const delays = timing.delays;
  const runs = { a: 0, b: 0, c: 0 };
  let parent!: Context;
  const failing = (name: "a" | "b") => () => {
    runs[name]++;
    return Promise.reject(new Error(`${name} fails`));
  };
  const s = new Supervisor(new LogTree(), async (ctx) => {
    parent = ctx;
    run(ctx, "a", failing("a"));
    run(ctx, "b", failing("b"));
    run(ctx, "c", (c) => (runs.c++, signal(c, "healthy"), forever(c)));
    signal(ctx, "healthy");
    await forever(ctx);
  }, { timing });
  await waitUntil(() => delays.length === 2, "a and b wait out their backoff");
  retryNow(parent, ["a", "c"]);
  await waitUntil(() => delays.length === 4, "a restarted and failed again");
  assert.throws(() => retryNow(parent, ["nope"]), /no runnable named "nope"/);
  await s.stop();
  // a: 0.5 s, b: 0.5 s, a at once, a again 0.5 s (base_1: the backoff was reset, not 0.75 s).
  assert.deepEqual(delays, [500, 500, 0, 500]);
  assert.deepEqual(runs, { a: 2, b: 1, c: 1 }, "only a ran again; the running c was left alone");
});

Deno.test("§4.3 delays are uniformly jittered within ±50 % of the base", async () => {
  const values = [0, 0.999999, 0.25];
  let i = 0;
  let runs = 0;
  const timing = new RecordingTiming(() => values[i++ % values.length]);
  const { s } = start((ctx) => {
    run(ctx, "r", () => {
      runs++;
      return Promise.reject(new Error("x"));
    });
  }, timing);
  await waitUntil(() => runs >= 4, "4 runs");
  await s.stop();
  const [a, b, c] = timing.delays;
  assert.equal(a, 250); // 0.5 × 500
  assert.ok(Math.abs(b - 1125) < 0.01, `${b}`); // ≈ 1.5 × 750
  assert.equal(c, 0.75 * 1125);
});

Deno.test("§4.3 backoff with real timers and real randomness (midpoints ±50 %)", async () => {
  const starts: number[] = [];
  const tree = new LogTree();
  const s = new Supervisor(tree, async (ctx) => {
    run(ctx, "r", () => {
      starts.push(performance.now());
      return Promise.reject(new Error("x"));
    });
    signal(ctx, "healthy");
    await forever(ctx);
  }, { onRootExit: () => {} });
  await waitUntil(() => starts.length >= 3, "3 runs", 10_000);
  await s.stop();
  const d1 = starts[1] - starts[0], d2 = starts[2] - starts[1];
  // Lower bounds are exact; upper bounds leave room for a loaded 2-core machine.
  assert.ok(d1 >= 245 && d1 <= 2000, `first delay ${d1} ms`);
  assert.ok(d2 >= 370 && d2 <= 3000, `second delay ${d2} ms`);
  const restarts = tree.read("supervisor", { backlog: "all" }).backlog;
  assert.match(restarts[0].leveled!.lines[0], /^root\.r failed \(x\); restarting in 0\.\d{3}s$/);
});

Deno.test("§4.2 a synchronous throw is a failure with a FATAL entry in the runnable's DN", async () => {
  let runs = 0;
  const { s, tree } = start((ctx) => {
    run(ctx, "sync", () => {
      runs++;
      throw new TypeError("sync boom");
    });
  });
  await waitUntil(() => runs >= 2, "restarted");
  await s.stop();
  const e = tree.read("root.sync", { backlog: "all" }).backlog[0];
  assert.equal(e.leveled!.severity, "FATAL");
  assert.match(e.leveled!.lines[0], /^runnable failed: TypeError: sync boom/);
  assert.match(e.leveled!.location, /^supervisor_test\.ts:\d+$/, "location where it was thrown");
});

Deno.test("§4.1 children can only be added while NEW; stale contexts are rejected", async () => {
  let stale: Context | undefined;
  const errs: string[] = [];
  const { s } = start((ctx) => {
    run(ctx, "c", async (c) => {
      signal(c, "healthy");
      try {
        run(c, "late", forever);
      } catch (e) {
        errs.push((e as Error).message);
      }
      signal(c, "done");
      stale = c;
      await Promise.resolve();
    });
  });
  await waitUntil(() => s.state("root.c") === "DONE", "DONE");
  assert.throws(() => signal(stale!, "healthy"), /no longer current/);
  assert.throws(() => run(stale!, "x", forever), /no longer current/);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(s.state("root.c"), "DONE", "a DONE node is not restarted");
  await s.stop();
  assert.deepEqual(errs, [
    "root.c: children can only be added before signalling Healthy (state HEALTHY)",
  ]);
});

Deno.test("§4.4 logger and subLogger write to the runnable's DN and <DN>.<name>", async () => {
  const { s, tree } = start((ctx) => {
    ctx.logger.info("to root");
    subLogger(ctx, "sub").error("to sub");
    assert.throws(() => subLogger(ctx, "sub"), /already exists/);
  });
  await waitUntil(() => s.state("root") === "HEALTHY", "HEALTHY");
  await s.stop();
  assert.equal(tree.read("root", { backlog: "all" }).backlog[0].leveled!.lines[0], "to root");
  const sub = tree.read("root.sub", { backlog: "all" }).backlog[0].leveled!;
  assert.deepEqual([sub.lines[0], sub.severity], ["to sub", "ERROR"]);
  assert.match(sub.location, /^supervisor_test\.ts:\d+$/);
});

Deno.test("§4.3 root failure: FATAL in DN supervisor, then the hook after the delay", async () => {
  const tree = new LogTree();
  const timing = new RecordingTiming();
  let hookErr: Error | undefined;
  new Supervisor(tree, () => Promise.reject(new Error("root broke")), {
    timing,
    onRootExit: (e) => hookErr = e,
  });
  await waitUntil(() => hookErr !== undefined, "hook");
  assert.equal(hookErr!.message, "root broke");
  assert.deepEqual(timing.delays, [7000], "root is not restarted; hook waits 7 s");
  const f = tree.read("supervisor", { backlog: "all" }).backlog[0].leveled!;
  assert.equal(f.severity, "FATAL");
  assert.match(f.lines[0], /^root runnable exited: root broke/);
});
