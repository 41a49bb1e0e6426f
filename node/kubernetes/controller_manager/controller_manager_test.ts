import assert from "node:assert/strict";
import { LogTree } from "../../base/logtree/logtree.ts";
import { MemoryPkiStorage, parseCertificate, pemDecode } from "../../base/pki/mod.ts";
import { run, signal, Supervisor } from "../../base/supervisor/supervisor.ts";
import { RecordingTiming, waitUntil } from "../../base/supervisor/testing.ts";
import { KubernetesPKI } from "../pki/kubepki.ts";
import {
  controllerManager,
  controllerManagerArgs,
  controllerManagerFiles,
} from "./controller_manager.ts";

Deno.test("controller-manager args: the flags of kubernetes.md §5", () => {
  const f = controllerManagerFiles();
  assert.deepEqual(controllerManagerArgs(f), [
    "--kubeconfig=/ephemeral/kubernetes/controller-manager/kubeconfig",
    "--authentication-kubeconfig=/ephemeral/kubernetes/controller-manager/kubeconfig",
    "--authorization-kubeconfig=/ephemeral/kubernetes/controller-manager/kubeconfig",
    "--cluster-cidr=10.192.0.0/11",
    "--allocate-node-cidrs=true",
    "--node-cidr-mask-size=24",
    "--service-cluster-ip-range=10.224.0.0/16",
    "--use-service-account-credentials=true",
    "--root-ca-file=/ephemeral/kubernetes/controller-manager/id-ca.crt",
    "--service-account-private-key-file=/ephemeral/kubernetes/controller-manager/service-account.key",
    "--tls-cert-file=/ephemeral/kubernetes/controller-manager/controller-manager.crt",
    "--tls-private-key-file=/ephemeral/kubernetes/controller-manager/controller-manager.key",
    "--bind-address=127.0.0.1",
    "--leader-elect=true",
  ]);
});

Deno.test("controller-manager runnable: its identity in the kubeconfig, the cluster's SA key, an exit is a failure", async () => {
  const dir = await Deno.makeTempDir();
  const kube = `${dir}/kube`;
  // A stand-in `kube` that records its args and exits like a controller-manager without an apiserver.
  await Deno.writeTextFile(kube, `#!/bin/sh\necho "$*" > ${dir}/args\nexit 1\n`, { mode: 0o755 });
  const pki = new KubernetesPKI(new MemoryPkiStorage());
  const tree = new LogTree();
  const s = new Supervisor(tree, async (ctx) => {
    run(ctx, "cm", controllerManager({ pki, dir: `${dir}/cm`, kube }));
    signal(ctx, "healthy");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  }, { timing: new RecordingTiming(() => 0.5, 60_000), onRootExit: () => {}, rootExitDelayMs: 0 });
  try {
    await waitUntil(() => s.state("root.cm") === "DEAD", "DEAD after the exit", 8000);
    const args = await Deno.readTextFile(`${dir}/args`);
    assert.ok(args.startsWith("kube-controller-manager --kubeconfig="));
    const kc = JSON.parse(await Deno.readTextFile(`${dir}/cm/kubeconfig`));
    const cert = atob(kc.users[0].user["client-certificate-data"]);
    assert.deepEqual(parseCertificate(pemDecode(cert, "CERTIFICATE")).commonNames, [
      "system:kube-controller-manager",
    ]);
    assert.equal(
      await Deno.readTextFile(`${dir}/cm/service-account.key`),
      (await pki.serviceAccountKey()).keyPem,
    );
    assert.equal((await Deno.stat(`${dir}/cm/kubeconfig`)).mode! & 0o777, 0o600);
    const fatal = tree.read("root.cm", { backlog: "all", onlyLeveled: true }).backlog
      .flatMap((e) => e.leveled!.lines).join("\n");
    assert.match(fatal, /process exited: 1/);
  } finally {
    await s.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
