import assert from "node:assert/strict";
import { LogTree } from "../logtree/logtree.ts";
import { formatEntry } from "../logtree/format.ts";
import { isOwnChild } from "./children.ts";
import { runCommand } from "./runcommand.ts";
import { type Context, run, type Runnable, signal, Supervisor } from "./supervisor.ts";
import { RecordingTiming, waitUntil } from "./testing.ts";

// Host /bin/sh is used for tests only; the node itself never relies on a shell.
const SH = "/bin/sh";

function supervise(child: Runnable) {
  const tree = new LogTree();
  const timing = new RecordingTiming(() => 0.5, 10_000); // restarts effectively never happen
  const s = new Supervisor(tree, async (ctx) => {
    run(ctx, "cmd", child);
    signal(ctx, "healthy");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  }, { timing, onRootExit: () => {}, rootExitDelayMs: 0 });
  const text = () =>
    tree.read("root.cmd", { backlog: "all" }).backlog.flatMap((e) =>
      e.raw ? [e.raw.data] : e.leveled!.lines
    );
  return { tree, s, text };
}

Deno.test("§4.6 stdout/stderr lines become raw entries; Healthy once running; exit fails", async () => {
  let failure: unknown;
  const { s, tree, text } = supervise(async (ctx) => {
    try {
      await runCommand(ctx, [SH, "-c", "echo out1; echo err1 >&2; sleep 0.2; echo out2; exit 3"]);
    } catch (e) {
      failure = e;
      throw e;
    }
  });
  await waitUntil(() => s.state("root.cmd") === "HEALTHY", "HEALTHY");
  await waitUntil(() => failure !== undefined, "exit");
  assert.equal((failure as Error).message, "process exited: 3");
  await waitUntil(() => s.state("root.cmd") === "DEAD" || text().length >= 4, "DEAD");
  const raw = tree.read("root.cmd", { backlog: "all", onlyRaw: true }).backlog;
  assert.deepEqual(raw.map((e) => e.raw!.data).sort(), [
    "err1",
    "out1",
    "out2",
  ]);
  const fatal = tree.read("root.cmd", { backlog: "all", onlyLeveled: true }).backlog;
  assert.match(fatal[0].leveled!.lines[0], /runnable failed: Error: process exited: 3/);
  await s.stop();
});

Deno.test("§4.6 child killed by a signal → 'process exited: SIGKILL'", async () => {
  let failure: unknown;
  const { s } = supervise(async (ctx) => {
    await runCommand(ctx, [SH, "-c", "kill -9 $$"]).catch((e) => {
      failure = e;
      throw e;
    });
  });
  await waitUntil(() => failure !== undefined, "exit");
  assert.equal((failure as Error).message, "process exited: SIGKILL");
  await s.stop();
});

Deno.test("§4.6 abort sends SIGTERM; the child's PID is registered while it runs", async () => {
  let pid = 0;
  let returned = false;
  const { s, text } = supervise(async (ctx) => {
    await runCommand(ctx, [
      SH,
      "-c",
      "trap 'echo got TERM; exit 0' TERM; echo up; while :; do sleep 0.05; done",
    ], {
      onSpawn: (p) => pid = p,
    });
    returned = true;
  });
  await waitUntil(() => text().includes("up"), "child up");
  assert.ok(isOwnChild(pid), "PID registered in ownChildren");
  const t0 = performance.now();
  await s.stop();
  assert.ok(returned);
  assert.ok(performance.now() - t0 < 2000);
  assert.ok(text().includes("got TERM"), text().join("|"));
  assert.equal(isOwnChild(pid), false, "PID unregistered after exit");
});

Deno.test("§4.6 SIGTERM ignored → SIGKILL after the grace period", async () => {
  const { s, text, tree } = supervise(async (ctx) => {
    // Ignored signals stay ignored across exec, so `sleep` ignores SIGTERM too.
    await runCommand(ctx, [SH, "-c", "trap '' TERM; echo up; exec sleep 30"], { killGraceMs: 300 });
  });
  await waitUntil(() => text().includes("up"), "child up");
  const t0 = performance.now();
  await s.stop();
  const took = performance.now() - t0;
  assert.ok(took >= 290 && took < 3000, `stop took ${took} ms`);
  const lines = tree.read("root.cmd", { backlog: "all", onlyLeveled: true }).backlog.map((e) =>
    e.leveled!.lines[0]
  );
  assert.ok(lines.some((l) => l.includes("did not exit 300 ms after SIGTERM")), lines.join("|"));
  assert.ok(lines.some((l) => l === "process stopped: SIGKILL"), lines.join("|"));
});

Deno.test("§4.6 stopSignal SIGKILL: abort kills at once, the child's TERM trap never runs", async () => {
  const { s, text, tree } = supervise(async (ctx) => {
    await runCommand(ctx, [
      SH,
      "-c",
      "trap 'echo got TERM; exit 0' TERM; echo up; while :; do sleep 0.05; done",
    ], { stopSignal: "SIGKILL" });
  });
  await waitUntil(() => text().includes("up"), "child up");
  await s.stop();
  assert.ok(!text().includes("got TERM"), text().join("|"));
  const lines = tree.read("root.cmd", { backlog: "all", onlyLeveled: true }).backlog.map((e) =>
    e.leveled!.lines[0]
  );
  assert.ok(lines.some((l) => l === "process stopped: SIGKILL"), lines.join("|"));
});

Deno.test("beforeStop: on abort the child keeps serving until it resolved, then is stopped", async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  let asked = false;
  const { s, text } = supervise(async (ctx) => {
    await runCommand(ctx, [SH, "-c", "echo up; while :; do echo tick; sleep 0.05; done"], {
      stopSignal: "SIGKILL",
      beforeStop: () => (asked = true, released),
    });
  });
  await waitUntil(() => text().includes("up"), "child up");
  const stopped = s.stop();
  await waitUntil(() => asked, "beforeStop asked");
  // Still running while beforeStop has not resolved: it keeps printing.
  const ticks = text().length;
  await waitUntil(() => text().length >= ticks + 3, "ticks after the abort", 3000);
  release();
  await stopped;
  assert.equal(s.state("root.cmd"), "CANCELED");
});

Deno.test("§4.6 readiness probe gates Healthy", async () => {
  const dir = await Deno.makeTempDir({ prefix: "supervisor-test-" });
  const { s } = supervise((ctx: Context) =>
    runCommand(ctx, [SH, "-c", `sleep 0.3; touch ${dir}/ready; exec sleep 30`], {
      readiness: async () => {
        try {
          await Deno.stat(`${dir}/ready`);
          return true;
        } catch {
          return false;
        }
      },
      readinessIntervalMs: 20,
    })
  );
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(s.state("root.cmd"), "NEW");
  await waitUntil(() => s.state("root.cmd") === "HEALTHY", "HEALTHY after probe");
  await s.stop();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("§4.6 klog and etcd-json parsers turn real-looking lines into leveled entries", async () => {
  const klog = [
    "I1121 18:04:05.123456    4242 server.go:123] Starting kube-apiserver",
    "W1121 18:04:06.000001       7 reflector.go:9] watch ended",
    "not a klog line",
  ];
  const etcd = [
    '{"level":"warn","ts":"2026-11-21T18:04:05.654321Z","caller":"embed/etcd.go:124","msg":"configuring peer listeners","listen-peer-urls":["https://[::]:7834"]}',
    '{"level":"info","ts":1795284245.5,"caller":"etcdserver/server.go:2068","msg":"published"}',
  ];
  const write = (ls: string[]) => ls.map((l) => `printf '%s\\n' '${l}'`).join("; ");
  const tree = new LogTree();
  const s = new Supervisor(tree, async (ctx) => {
    run(
      ctx,
      "k",
      (c) => runCommand(c, [SH, "-c", `${write(klog)}; exec sleep 30`], { parser: "klog" }),
    );
    run(
      ctx,
      "e",
      (c) => runCommand(c, [SH, "-c", `${write(etcd)}; exec sleep 30`], { parser: "etcd-json" }),
    );
    signal(ctx, "healthy");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  }, { onRootExit: () => {} });
  const read = (dn: string) => tree.read(dn, { backlog: "all" }).backlog;
  await waitUntil(() => read("root.k").length >= 3 && read("root.e").length >= 2, "lines");
  await s.stop();
  const year = new Date().getUTCFullYear();
  const k = read("root.k");
  assert.deepEqual(k[0].leveled, {
    lines: ["Starting kube-apiserver"],
    severity: "INFO",
    location: "server.go:123",
    timeUs: Date.UTC(year, 10, 21, 18, 4, 5) * 1000 + 123456,
  });
  assert.equal(k[1].leveled!.severity, "WARNING");
  assert.equal(k[2].raw!.data, "not a klog line");
  const e = read("root.e");
  assert.equal(
    formatEntry(e[0])[0],
    'root.e                           W1121 18:04:05.654321 embed/etcd.go:124] configuring peer listeners listen-peer-urls=["https://[::]:7834"]',
  );
  assert.deepEqual(e[1].leveled, {
    lines: ["published"],
    severity: "INFO",
    location: "etcdserver/server.go:2068",
    timeUs: 1795284245500000,
  });
});

Deno.test("§4.6 a grandchild holding the pipe open does not keep runCommand waiting", async () => {
  let failure: Error | undefined;
  const t0 = performance.now();
  const { s, text } = supervise(async (ctx) => {
    await runCommand(ctx, [SH, "-c", "sleep 2 & echo hi; exit 0"]).catch((e) => {
      failure = e;
      throw e;
    });
  });
  await waitUntil(() => failure !== undefined, "exit");
  assert.equal(failure!.message, "process exited: 0");
  assert.ok(performance.now() - t0 < 1800, "returned before the grandchild exited");
  assert.ok(text().includes("hi"));
  await s.stop();
});

Deno.test("§4.6 a missing binary fails with a clear error", async () => {
  let failure: Error | undefined;
  const { s } = supervise(async (ctx) => {
    await runCommand(ctx, ["/nonexistent/supervisor-test-binary"]).catch((e) => {
      failure = e;
      throw e;
    });
  });
  await waitUntil(() => failure !== undefined, "failure");
  assert.match(
    failure!.message,
    /^runCommand: cannot start \/nonexistent\/supervisor-test-binary: /,
  );
  await assert.rejects(
    runCommand({ signal: new AbortController().signal } as Context, []),
    /argv must be a non-empty array/,
  );
  await s.stop();
});
