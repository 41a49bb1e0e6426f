import assert from "node:assert/strict";
import { Value } from "../../base/event/value.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { MemoryPkiStorage } from "../../base/pki/mod.ts";
import { run, signal, Supervisor } from "../../base/supervisor/supervisor.ts";
import { RecordingTiming } from "../../base/supervisor/testing.ts";
import type { KV } from "../../core/consensus/kv.ts";
import { KubernetesPKI } from "../pki/kubepki.ts";
import { FEATURE_GATES } from "../featuregates.ts";
import {
  apiserver,
  apiserverArgs,
  apiserverFiles,
  etcdSocketUrl,
  featureGatesFlag,
} from "./apiserver.ts";

/** Flags as a map (every apiserver flag is `--name=value`). */
function flags(args: string[]): Map<string, string> {
  return new Map(args.map((a) => {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    assert.ok(m, `flag ${a} is --name=value`);
    return [m[1], m[2]];
  }));
}

Deno.test("apiserver args: the flags of kubernetes.md §5 on the node's etcd socket", () => {
  const files = apiserverFiles("/ephemeral/kubernetes/apiserver");
  const f = flags(apiserverArgs({
    address: "10.1.0.2",
    etcdServers: etcdSocketUrl("/ephemeral/consensus"),
    files,
  }));
  assert.equal(f.get("advertise-address"), "10.1.0.2");
  assert.equal(f.get("secure-port"), "6443");
  assert.equal(f.get("etcd-servers"), "unix:///ephemeral/consensus/client.sock:0");
  assert.equal(f.get("etcd-prefix"), "/registry");
  assert.equal(f.get("authorization-mode"), "Node,RBAC");
  assert.equal(f.get("enable-admission-plugins"), "NodeRestriction");
  assert.equal(f.get("client-ca-file"), "/ephemeral/kubernetes/apiserver/id-ca.crt");
  assert.equal(f.get("requestheader-client-ca-file"), files.aggregationCa);
  assert.equal(
    f.get("requestheader-allowed-names"),
    "front-proxy-client,metropolis-auth-proxy-client",
  );
  assert.equal(f.get("requestheader-username-headers"), "X-Remote-User");
  assert.equal(f.get("requestheader-group-headers"), "X-Remote-Group");
  assert.equal(f.get("requestheader-extra-headers-prefix"), "X-Remote-Extra-");
  assert.equal(f.get("kubelet-client-certificate"), files.kubeletClientCert);
  assert.equal(f.get("kubelet-preferred-address-types"), "InternalIP");
  assert.equal(f.get("proxy-client-cert-file"), files.frontProxyCert);
  assert.equal(f.get("service-account-key-file"), files.serviceAccountPub);
  assert.equal(f.get("service-account-signing-key-file"), files.serviceAccountKey);
  assert.equal(f.get("service-account-issuer"), "https://metropolis.internal");
  assert.equal(f.get("service-cluster-ip-range"), "10.224.0.0/16");
  assert.equal(f.get("service-node-port-range"), "1-65535");
  assert.equal(f.get("tls-cert-file"), files.servingCert);
  assert.equal(f.get("allow-privileged"), "true");
  assert.equal(f.get("enable-aggregator-routing"), "true");
  assert.equal(f.has("feature-gates"), false);
  // Every file flag points into the component directory.
  for (const [k, v] of f) {
    if (/file|certificate|key$/.test(k) && k !== "service-account-issuer") {
      assert.match(v, /^\/ephemeral\/kubernetes\/apiserver\//, k);
    }
  }
});

Deno.test("apiserver args: feature gates sorted, relative etcd socket refused", () => {
  assert.equal(featureGatesFlag({ B: false, A: true }), "A=true,B=false");
  const args = apiserverArgs({
    address: "10.1.0.2",
    etcdServers: "unix:///s/client.sock:0",
    files: apiserverFiles("/d"),
    featureGates: { UserNamespacesSupport: true },
  });
  assert.ok(args.includes("--feature-gates=UserNamespacesSupport=true"));
  assert.throws(() => etcdSocketUrl("ephemeral/consensus"), /absolute/);
});

Deno.test("apiserver runnable: waits for the address, writes its files, restarts on a new address without overlap", async () => {
  const dir = await Deno.makeTempDir();
  const log = `${dir}/starts`;
  // A stand-in `kube`: records its PID, whether an earlier instance still lives, and its args.
  const kube = `${dir}/kube`;
  await Deno.writeTextFile(
    kube,
    `#!/bin/sh
if [ -f ${log} ]; then
  for p in $(cut -d' ' -f1 ${log}); do kill -0 $p 2>/dev/null && echo "ALIVE $p" >> ${log}; done
fi
echo "$$ $*" >> ${log}
exec sleep 100
`,
    { mode: 0o755 },
  );
  const address = new Value<string | undefined>(undefined);
  const tree = new LogTree();
  const s = new Supervisor(tree, async (ctx) => {
    run(
      ctx,
      "apiserver",
      apiserver({
        pki: new KubernetesPKI(new MemoryPkiStorage()),
        address,
        controlPlane: { kv: undefined as unknown as KV, socketDir: `${dir}/consensus` },
        dir: `${dir}/apiserver`,
        kube,
      }),
    );
    signal(ctx, "healthy");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  }, { timing: new RecordingTiming(() => 0.5, 0), onRootExit: () => {}, rootExitDelayMs: 0 });
  const lines = async () => {
    try {
      return (await Deno.readTextFile(log)).trim().split("\n");
    } catch {
      return [];
    }
  };
  try {
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await lines(), [], "no apiserver without an address");
    address.set("192.0.2.1");
    let l: string[] = [];
    for (let i = 0; i < 400 && l.length < 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
      l = await lines();
    }
    assert.equal(l.length, 1);
    assert.match(l[0], / kube-apiserver --advertise-address=192\.0\.2\.1 /);
    assert.ok(l[0].includes(`--etcd-servers=unix://${dir}/consensus/client.sock:0`));
    // Without deps.featureGates: the kubelets' set.
    assert.ok(l[0].includes(`--feature-gates=${featureGatesFlag(FEATURE_GATES)}`), l[0]);
    const st = await Deno.stat(`${dir}/apiserver/service-account.key`);
    assert.equal(st.mode! & 0o777, 0o600);
    assert.match(await Deno.readTextFile(`${dir}/apiserver/apiserver.key`), /PRIVATE KEY/);

    address.set("192.0.2.2");
    for (let i = 0; i < 400 && l.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      l = await lines();
    }
    assert.equal(l.length, 2, `restarted once: ${l}`);
    assert.match(l[1], /--advertise-address=192\.0\.2\.2 /);
    assert.ok(!l.some((x) => x.startsWith("ALIVE")), "the old apiserver was gone first");
    const fatal = tree.read("root.apiserver", { backlog: "all", onlyLeveled: true }).backlog
      .flatMap((e) => e.leveled!.lines).join("\n");
    assert.match(fatal, /node address changed from 192\.0\.2\.1 to 192\.0\.2\.2/);
  } finally {
    await s.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
