import assert from "node:assert/strict";
import { Value } from "../../base/event/value.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { RecordingTiming, waitUntil } from "../../base/supervisor/testing.ts";
import { run, type Runnable, signal, Supervisor } from "../../base/supervisor/supervisor.ts";
import { FEATURE_GATES } from "../featuregates.ts";
import { kubeletArgs, kubeletConfig, type KubeletOptions } from "./kubelet.ts";
import { firstChange, runUntilChanged } from "./restart.ts";

const opts: KubeletOptions = {
  nodeId: "metropolis-abc",
  address: "10.1.0.3",
  cgroupRoot: "/metropolis-metropolis-abc",
  files: {
    ca: "/ephemeral/kubernetes/kubelet/ca.pem",
    serverCert: "/ephemeral/kubernetes/kubelet/server.pem",
    serverKey: "/ephemeral/kubernetes/kubelet/server-key.pem",
    kubeconfig: "/ephemeral/kubernetes/kubelet/kubeconfig",
  },
};

Deno.test("kubelet config: the §7 settings, containerd's socket and the host's cgroup root", () => {
  const c = kubeletConfig(opts);
  assert.equal(c.kind, "KubeletConfiguration");
  assert.deepEqual(c.authentication, {
    x509: { clientCAFile: opts.files.ca },
    webhook: { enabled: true },
    anonymous: { enabled: false },
  });
  assert.deepEqual(c.authorization, { mode: "Webhook" });
  assert.deepEqual(c.clusterDNS, ["169.254.77.53"]);
  assert.equal(c.clusterDomain, "cluster.local");
  assert.equal(c.hairpinMode, "none");
  assert.equal(c.failSwapOn, false);
  assert.equal(c.maxPods, 253);
  assert.equal(c.cgroupDriver, "cgroupfs");
  assert.equal(c.cgroupRoot, "/metropolis-metropolis-abc");
  assert.equal(c.containerRuntimeEndpoint, "unix:///ephemeral/containerd/client.sock");
  assert.equal(c.tlsCertFile, opts.files.serverCert);
  assert.equal(c.tlsPrivateKeyFile, opts.files.serverKey);
  assert.equal(c.rotateCertificates, false);
  assert.equal(c.serverTLSBootstrap, false);
  assert.equal(c.readOnlyPort, 0);
  assert.equal(c.resolvConf, "/ephemeral/resolv.conf");
  // The apiserver's gates (apiserver.ts defaults to the same constant), a copy the config owns.
  assert.deepEqual(c.featureGates, FEATURE_GATES);
  assert.notEqual(c.featureGates, FEATURE_GATES);
  // User-namespace pods (the kubernetes suite's runtime step) need it on the kubelet.
  assert.equal(FEATURE_GATES.UserNamespacesSupport, true);
});

Deno.test("kubelet config: writes only below /data and /ephemeral (the root is read-only)", () => {
  const c = kubeletConfig(opts);
  assert.match(c.podLogsDir as string, /^\/data\//);
  assert.equal(c.staticPodPath, "");
  for (const a of kubeletArgs(opts).filter((a) => a.startsWith("--root-dir="))) {
    assert.equal(a, "--root-dir=/data/kubernetes/kubelet");
  }
});

Deno.test("kubelet args: config, kubeconfig, root dir, node name and IP", () => {
  assert.deepEqual(kubeletArgs(opts, "/x/config.json"), [
    "kubelet",
    "--config=/x/config.json",
    "--kubeconfig=/ephemeral/kubernetes/kubelet/kubeconfig",
    "--root-dir=/data/kubernetes/kubelet",
    "--hostname-override=metropolis-abc",
    "--node-ip=10.1.0.3",
  ]);
});

function supervise(child: Runnable) {
  const tree = new LogTree();
  const s = new Supervisor(tree, async (ctx) => {
    run(ctx, "c", child);
    signal(ctx, "healthy");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  }, { timing: new RecordingTiming(() => 0.5, 10_000), onRootExit: () => {}, rootExitDelayMs: 0 });
  return s;
}

Deno.test("restart: a changed fact stops the child first, then fails the runnable with why", async () => {
  const address = new Value<string | undefined>("10.0.0.1");
  let pid = 0;
  let failure: Error | undefined;
  const s = supervise(async (ctx) => {
    try {
      await runUntilChanged(ctx, ["/bin/sleep", "30"], { onSpawn: (p) => pid = p }, (sig) => [
        firstChange(address, (a) => a !== "10.0.0.1", (a) => `address is now ${a}`, sig),
      ]);
    } catch (e) {
      failure = e as Error;
      throw e;
    }
  });
  await waitUntil(() => s.state("root.c") === "HEALTHY", "HEALTHY");
  address.set("10.0.0.1"); // same value: no restart
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(failure, undefined);
  address.set("10.0.0.2");
  await waitUntil(() => failure !== undefined, "failure");
  assert.equal(failure!.message, "restart: address is now 10.0.0.2");
  // The child is gone by the time the runnable failed.
  assert.throws(() => Deno.kill(pid, "SIGCONT"));
  await s.stop();
});

Deno.test("restart: aborting the runnable stops the child without an error", async () => {
  const ready = new Value<boolean>(true);
  let returned = false;
  const s = supervise(async (ctx) => {
    await runUntilChanged(ctx, ["/bin/sleep", "30"], {}, (sig) => [
      firstChange(ready, (r) => !r, () => "not ready", sig),
    ]);
    returned = true;
  });
  await waitUntil(() => s.state("root.c") === "HEALTHY", "HEALTHY");
  await s.stop();
  assert.ok(returned);
  assert.equal(ready.watcherCount, 0);
});
