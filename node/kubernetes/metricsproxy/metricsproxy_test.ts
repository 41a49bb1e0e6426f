import assert from "node:assert/strict";
import { LogTree } from "../../base/logtree/logtree.ts";
import { MemoryPkiStorage } from "../../base/pki/mod.ts";
import { run, signal, Supervisor } from "../../base/supervisor/supervisor.ts";
import { RecordingTiming, waitUntil } from "../../base/supervisor/testing.ts";
import { KubernetesPKI } from "../pki/kubepki.ts";
import { METRICS_TARGETS, metricsProxy, type MetricsTarget } from "./metricsproxy.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = (l.addr as Deno.NetAddr).port;
  l.close();
  return p;
}

Deno.test("metrics targets: the ports of node.md §17 and the names of the serving certificates", () => {
  assert.deepEqual(
    Object.values(METRICS_TARGETS).map((t) => [t.listen, t.port, t.serverName]),
    [
      [7845, 6443, "localhost"],
      [7844, 10257, "kube-controller-manager.local"],
      [7843, 10259, "kube-scheduler.local"],
    ],
  );
});

Deno.test("metrics proxy: forwards /metrics with the master identity to a component verified by name", async () => {
  const pki = new KubernetesPKI(new MemoryPkiStorage());
  const serving = await pki.identity("scheduler");
  // A stand-in scheduler serving its real certificate; another one with the wrong certificate.
  const good = { listen: freePort(), port: freePort(), serverName: "kube-scheduler.local" };
  const wrong = {
    listen: freePort(),
    port: freePort(),
    serverName: "kube-controller-manager.local",
  };
  const down: MetricsTarget = { listen: freePort(), port: freePort(), serverName: "localhost" };
  const upstreams = [good, wrong].map((t) =>
    Deno.serve({
      hostname: "127.0.0.1",
      port: t.port,
      cert: serving.certPem,
      key: serving.keyPem,
      onListen() {},
    }, () => new Response("scheduler_up 1\n", { headers: { "content-type": "text/plain" } }))
  );
  const s = new Supervisor(new LogTree(), async (ctx) => {
    run(ctx, "metrics", metricsProxy({ pki, targets: [good, wrong, down] }));
    signal(ctx, "healthy");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  }, { timing: new RecordingTiming(), onRootExit: () => {}, rootExitDelayMs: 0 });
  try {
    await waitUntil(() => s.state("root.metrics") === "HEALTHY", "HEALTHY", 8000);
    const get = async (t: MetricsTarget, path = "/metrics") => {
      const r = await fetch(`http://127.0.0.1:${t.listen}${path}`);
      return [r.status, await r.text()] as const;
    };
    assert.deepEqual(await get(good), [200, "scheduler_up 1\n"]);
    const [wrongStatus, wrongBody] = await get(wrong);
    assert.equal(wrongStatus, 502, "a certificate for another name is refused");
    assert.match(wrongBody, /kube-controller-manager\.local/);
    assert.equal((await get(down))[0], 502);
    assert.equal((await get(good, "/other"))[0], 404);
  } finally {
    await s.stop();
    for (const u of upstreams) await u.shutdown();
  }
});
