/**
 * Tier 2: the Kubernetes long pole on a namespace node (issue 7). Builds (or reuses) the kube
 * multicall binary and the preseed images, starts etcd (TLS), kube-apiserver,
 * controller-manager, scheduler, containerd and kubelet in one network/mount/PID namespace,
 * waits for the node to become Ready, runs a Pod from the preseeded httpserver image and fetches
 * its page from the node's network namespace. Teardown removes processes, mounts, cgroups, the
 * netns and the veth. Prints the times (binary build, apiserver ready, node Ready, pod Running).
 */
import assert from "node:assert/strict";
import { buildKube } from "../../../node/kubernetes/hyperkube/build.ts";
import { buildImages, IMAGE_REFS } from "../../images/images.ts";
import { NsNode } from "./nsnode.ts";
import {
  type SmokeClusterOptions,
  startControllers,
  startControlPlane,
  startKubeProxy,
  startWorker,
  waitFor,
} from "./cluster.ts";

const NODE_NAME = "mk8s-smoke-node";
const APPLETS = [
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubelet",
  "kube-proxy",
];

/** Why this machine cannot run the test, or undefined when it can. */
function cannotRun(): string | undefined {
  if (Deno.uid() !== 0) return "needs root (namespaces, cgroups, veth)";
  for (
    const bin of ["/usr/bin/etcd", "/usr/bin/containerd", "/usr/sbin/runc", "/usr/lib/cni/ptp"]
  ) {
    try {
      Deno.statSync(bin);
    } catch {
      return `${bin} missing (run .ci/setup)`;
    }
  }
}

const reason = cannotRun();
if (reason) console.log(`k8s_smoke: skipped: ${reason}`);

const NODE_NET = {
  netns: "mk8s-smoke",
  hostVeth: "mk8s-smk-h",
  nodeVeth: "mk8s-smk-n",
  hostAddr: "10.250.77.254",
  nodeAddr: "10.250.77.1",
  cgroupRoot: "mk8s-smoke",
};

/** Teardown left nothing behind: no netns, mounts, work directory or cgroup root. */
async function assertNothingLeft(workDir: string) {
  const netns = new TextDecoder().decode(
    (await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output()).stdout,
  );
  assert.ok(!netns.includes(NODE_NET.netns), `netns ${NODE_NET.netns} must be gone`);
  const mounts = await Deno.readTextFile("/proc/mounts");
  assert.ok(!mounts.includes(workDir), "no mounts may remain under the work directory");
  await assert.rejects(() => Deno.stat(workDir));
  await assert.rejects(() => Deno.stat(`/sys/fs/cgroup/memory/${NODE_NET.cgroupRoot}`));
}

const secs = (t0: number) => ((performance.now() - t0) / 1000).toFixed(1);

async function runKube(kube: string, args: string[]) {
  return await new Deno.Command(kube, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
}

Deno.test({
  name: "k8s smoke: kube binary has every applet and reports the pinned version",
  ignore: !!reason,
  async fn() {
    const t0 = performance.now();
    const kube = await buildKube();
    console.log(`k8s_smoke: kube binary ready after ${secs(t0)} s`);
    const v = await runKube(kube, ["kubelet", "--version"]);
    assert.ok(v.success, "kube kubelet --version must exit 0");
    assert.match(new TextDecoder().decode(v.stdout), /^Kubernetes v1\.32\.\d+\s*$/);
    for (const a of APPLETS) {
      const r = await runKube(kube, [a, "--help"]);
      assert.ok(r.success, `kube ${a} --help must exit 0`);
    }
    const bad = await runKube(kube, ["kube-nonsense"]);
    assert.equal(bad.code, 2);
    assert.match(new TextDecoder().decode(bad.stderr), /unknown applet "kube-nonsense"/);
  },
});

Deno.test({
  name: "k8s smoke: one namespace node runs a preseeded pod",
  ignore: !!reason,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    let t0 = performance.now();
    const kube = await buildKube();
    const images = await buildImages();
    console.log(`k8s_smoke: binary and images ready after ${secs(t0)} s`);

    const workDir = await Deno.makeTempDir({ prefix: "mk8s-smoke-" });
    const node = await NsNode.create({ ...NODE_NET, workDir });
    const opts: SmokeClusterOptions = {
      node,
      kube,
      nodeName: NODE_NAME,
      sandboxImage: IMAGE_REFS.pause,
      archives: Object.values(images).map((i) => i.path),
    };
    let stage = "control plane";
    try {
      t0 = performance.now();
      const cl = await startControlPlane(opts);
      const { api } = cl;
      try {
        await waitFor("apiserver /readyz", 180000, async () => {
          const r = await api.req("GET", "/readyz");
          return r.status === 200 ? true : undefined;
        });
        const tApi = secs(t0);
        console.log(`k8s_smoke: apiserver ready ${tApi} s after start`);

        stage = "controllers and worker";
        startControllers(opts, cl);
        await startWorker(opts, cl);
        stage = "node Ready";
        const node0 = await waitFor("node Ready", 180000, async () => {
          const r = await api.req("GET", `/api/v1/nodes/${NODE_NAME}`);
          // deno-lint-ignore no-explicit-any -- Node status from JSON
          const ready = r.body?.status?.conditions?.find((c: any) => c.type === "Ready");
          return ready?.status === "True" ? r.body : undefined;
        });
        const tNode = secs(t0);
        console.log(`k8s_smoke: node Ready ${tNode} s after start (podCIDR ${node0.spec.podCIDR})`);
        assert.equal(node0.spec.podCIDR, "10.192.0.0/24");

        stage = "pod Running";
        const pod = {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "httpserver", labels: { app: "httpserver" } },
          spec: {
            containers: [{
              name: "http",
              image: IMAGE_REFS.httpserver,
              imagePullPolicy: "Never",
              ports: [{ containerPort: 8080 }],
            }],
            automountServiceAccountToken: false,
            terminationGracePeriodSeconds: 1,
          },
        };
        // The ServiceAccount admission plugin rejects pods until the controller-manager has
        // created the namespace's default ServiceAccount.
        await waitFor("pod creation", 60000, async () => {
          const r = await api.req("POST", "/api/v1/namespaces/default/pods", pod);
          if (r.status === 201) return true;
          throw new Error(`HTTP ${r.status}: ${r.body?.message ?? r.body}`);
        });
        const running = await waitFor(
          "pod Running",
          Number(Deno.env.get("MK8S_POD_WAIT") ?? 180000),
          async () => {
            const r = await api.req("GET", "/api/v1/namespaces/default/pods/httpserver");
            return r.body?.status?.phase === "Running" && r.body.status.podIP ? r.body : undefined;
          },
        );
        const tPod = secs(t0);
        const ip = running.status.podIP as string;
        console.log(`k8s_smoke: pod Running ${tPod} s after start (pod IP ${ip})`);
        assert.match(ip, /^10\.192\.0\.\d+$/);

        stage = "HTTP from the node";
        // busybox-static's wget segfaults on this host; nc speaks plain HTTP/1.0 just as well.
        const page = await waitFor("HTTP answer from the pod", 30000, async () => {
          const resp = await node.run([
            "sh",
            "-c",
            `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 ${ip} 8080`,
          ]);
          assert.match(resp, /^HTTP\/1\.[01] 200/);
          return resp.slice(resp.indexOf("\r\n\r\n") + 4);
        });
        assert.equal(page.trim(), "metropolis-httpserver httpserver");

        stage = "Service through kube-proxy (nftables)";
        await startKubeProxy(opts);
        const svc = await api.req("POST", "/api/v1/namespaces/default/services", {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "httpserver" },
          spec: { selector: { app: "httpserver" }, ports: [{ port: 80, targetPort: 8080 }] },
        });
        assert.equal(svc.status, 201, JSON.stringify(svc.body));
        const clusterIP = svc.body.spec.clusterIP as string;
        assert.match(clusterIP, /^10\.224\./);
        const viaSvc = await waitFor(`HTTP answer via ClusterIP ${clusterIP}`, 60000, async () => {
          const resp = await node.run([
            "sh",
            "-c",
            `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 ${clusterIP} 80`,
          ]);
          return resp.includes("metropolis-httpserver") ? resp : undefined;
        });
        assert.match(viaSvc, /metropolis-httpserver httpserver/);
        console.log(
          `k8s_smoke: Service ${clusterIP}:80 answers through kube-proxy ${secs(t0)} s after start`,
        );
        console.log(
          `k8s_smoke: times: apiserver ready ${tApi} s, node Ready ${tNode} s, pod Running ${tPod} s`,
        );
      } finally {
        api.close();
      }
    } catch (e) {
      for (
        const c of [
          "etcd",
          "kube-apiserver",
          "kube-controller-manager",
          "kube-scheduler",
          "kubelet",
          "containerd",
        ]
      ) {
        console.log(`--- ${c} log tail ---\n${await node.logTail(c, 15)}`);
      }
      throw new Error(`k8s smoke failed at ${stage}: ${e instanceof Error ? e.message : e}`);
    } finally {
      // MK8S_SMOKE_KEEP_LOGS=<dir> keeps the component logs for inspection.
      const keep = Deno.env.get("MK8S_SMOKE_KEEP_LOGS");
      if (keep) await new Deno.Command("cp", { args: ["-r", `${workDir}/logs`, keep] }).output();
      await node.teardown();
    }
    await assertNothingLeft(workDir);
  },
});

Deno.test({
  name: "k8s smoke: kube-apiserver on Debian etcd 3.4 over a unix socket (the node's shape)",
  ignore: !!reason,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const kube = await buildKube();
    const workDir = await Deno.makeTempDir({ prefix: "mk8s-smoke-" });
    const node = await NsNode.create({ ...NODE_NET, workDir });
    try {
      const t0 = performance.now();
      const cl = await startControlPlane({
        node,
        kube,
        nodeName: NODE_NAME,
        sandboxImage: IMAGE_REFS.pause,
        archives: [],
        etcd: "unix",
      });
      try {
        await waitFor("apiserver /readyz", 180000, async () => {
          const r = await cl.api.req("GET", "/readyz");
          return r.status === 200 ? true : undefined;
        });
        console.log(`k8s_smoke: apiserver (etcd over unix socket) ready ${secs(t0)} s after start`);
        const ns = { apiVersion: "v1", kind: "Namespace", metadata: { name: "mk8s-unix" } };
        const created = await cl.api.req("POST", "/api/v1/namespaces", ns);
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const got = await cl.api.req("GET", "/api/v1/namespaces/mk8s-unix");
        assert.equal(got.body?.metadata?.uid, created.body.metadata.uid);
      } finally {
        cl.api.close();
      }
    } catch (e) {
      for (const c of ["etcd", "kube-apiserver"]) {
        console.log(`--- ${c} log tail ---\n${await node.logTail(c, 15)}`);
      }
      throw e;
    } finally {
      await node.teardown();
    }
    await assertNothingLeft(workDir);
  },
});
