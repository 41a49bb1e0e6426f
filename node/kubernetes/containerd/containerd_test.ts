import assert from "node:assert/strict";
import { Value } from "../../base/event/value.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { RecordingTiming, waitUntil } from "../../base/supervisor/testing.ts";
import { run, signal, Supervisor } from "../../base/supervisor/supervisor.ts";
import { buildContainerd } from "./build.ts";
import type { ContainerdPaths } from "./config.ts";
import { configPath, containerd } from "./containerd.ts";

Deno.test({
  name: "containerd runnable: Healthy and ready only once the socket answers; not ready after stop",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    // The nodes' containerd 2 and runc (cached after the first build); the config is version 3.
    const rt = await buildContainerd();
    const dir = await Deno.makeTempDir({ prefix: "mk8s-ctrd-" });
    const paths: ContainerdPaths = {
      root: `${dir}/root`,
      state: `${dir}/state`,
      socket: `${dir}/state/client.sock`,
      runc: rt.runc,
      cniBin: "/usr/lib/cni",
      cniConf: `${dir}/state/cni/conf`,
      cniTemplate: `${dir}/state/cni.conflist.tmpl`,
      ipamDir: `${dir}/state/ipam`,
    };
    await Deno.mkdir(`${dir}/preseed`);
    const runsc = { runsc: "/opt/runsc", root: `${dir}/state/runsc`, config: `${dir}/runsc.toml` };
    const ready = new Value<boolean>();
    const seen: boolean[] = [];
    const w = ready.watch();
    (async () => {
      for await (const v of w) seen.push(v);
    })();
    const s = new Supervisor(new LogTree(), async (ctx) => {
      run(
        ctx,
        "containerd",
        containerd({
          ready,
          restrictOomScoreAdj: true,
          paths,
          preseedDir: `${dir}/preseed`,
          bin: { containerd: rt.containerd, ctr: rt.ctr },
          metricsAddress: "",
          runsc,
        }),
      );
      signal(ctx, "healthy");
      await new Promise((r) => ctx.signal.addEventListener("abort", r));
    }, { timing: new RecordingTiming(() => 0.5, 10_000), onRootExit: () => {} });
    try {
      await waitUntil(() => s.state("root.containerd") === "HEALTHY", "HEALTHY", 30_000);
      assert.equal(ready.get(), true);
      const cfg = await Deno.readTextFile(configPath(paths));
      assert.ok(cfg.includes(`root = "${paths.root}"`));
      assert.ok(cfg.includes("restrict_oom_score_adj = true"));
      assert.ok(cfg.includes(`ConfigPath = "${runsc.config}"`));
      assert.match(await Deno.readTextFile(runsc.config), /^binary_name = "\/opt\/runsc"$/m);
      assert.ok((await Deno.stat(runsc.root)).isDirectory);
      assert.equal(JSON.parse(await Deno.readTextFile(paths.cniTemplate)).name, "k8s-pod-network");
    } finally {
      await s.stop();
      w.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    assert.equal(ready.get(), false);
    assert.deepEqual(seen, [false, true, false]);
  },
});
