import assert from "node:assert/strict";
import { LogTree } from "../../base/logtree/logtree.ts";
import { MemoryPkiStorage, parseCertificate, pemDecode } from "../../base/pki/mod.ts";
import { run, signal, Supervisor } from "../../base/supervisor/supervisor.ts";
import { RecordingTiming, waitUntil } from "../../base/supervisor/testing.ts";
import { KubernetesPKI } from "../pki/kubepki.ts";
import { scheduler, schedulerArgs, schedulerFiles } from "./scheduler.ts";

Deno.test("scheduler args: kubeconfig, serving certificate, leader election (kubernetes.md §5)", () => {
  assert.deepEqual(schedulerArgs(schedulerFiles("/e/s")), [
    "--kubeconfig=/e/s/kubeconfig",
    "--authentication-kubeconfig=/e/s/kubeconfig",
    "--authorization-kubeconfig=/e/s/kubeconfig",
    "--tls-cert-file=/e/s/scheduler.crt",
    "--tls-private-key-file=/e/s/scheduler.key",
    "--bind-address=127.0.0.1",
    "--leader-elect=true",
  ]);
  assert.equal(schedulerFiles().dir, "/ephemeral/kubernetes/scheduler");
});

Deno.test("scheduler runnable: runs kube-scheduler with its files until stopped", async () => {
  const dir = await Deno.makeTempDir();
  const kube = `${dir}/kube`;
  await Deno.writeTextFile(kube, `#!/bin/sh\necho "$*" > ${dir}/args\nexec sleep 100\n`, {
    mode: 0o755,
  });
  const pki = new KubernetesPKI(new MemoryPkiStorage());
  const s = new Supervisor(new LogTree(), async (ctx) => {
    run(ctx, "scheduler", scheduler({ pki, dir: `${dir}/s`, kube }));
    signal(ctx, "healthy");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  }, { timing: new RecordingTiming(), onRootExit: () => {}, rootExitDelayMs: 0 });
  try {
    await waitUntil(() => s.state("root.scheduler") === "HEALTHY", "HEALTHY", 8000);
    let args = "";
    for (let i = 0; i < 200 && !args; i++) {
      await new Promise((r) => setTimeout(r, 20));
      args = await Deno.readTextFile(`${dir}/args`).catch(() => "");
    }
    assert.equal(
      args.trim(),
      ["kube-scheduler", ...schedulerArgs(schedulerFiles(`${dir}/s`))].join(" "),
    );
    const serving = parseCertificate(
      pemDecode(await Deno.readTextFile(`${dir}/s/scheduler.crt`), "CERTIFICATE"),
    );
    assert.deepEqual(serving.dnsNames, ["kube-scheduler.local"]);
  } finally {
    await s.stop();
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(s.state("root.scheduler"), "CANCELED");
});
