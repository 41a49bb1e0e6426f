/**
 * kubernetes suite on namespace nodes (testing.md §4, upstream's `kubernetes` suite): a 3-node
 * cluster whose node 0 is ConsensusMember + KubernetesController (from the bootstrap); the
 * KubernetesWorker role is granted at run time, as an operator would with metroctl. Every
 * Kubernetes call goes through the launcher's `<state>/kubectl` wrapper, i.e. the real kubectl
 * applet of our `kube` binary → SOCKS5 → the authproxy on :6444 with the owner certificate.
 * Timeouts as upstream: 60 s small steps, 120 s large steps.
 */
import { kubectl } from "../../launch/kubectl.ts";
import assert from "node:assert/strict";
import https from "node:https";
import { launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { netnsName } from "../../launch/net.ts";
import { metroctlCommand } from "../../launch/bringup.ts";
import { permanent, testEventual } from "../eventual.ts";
import { stepAllHealthy } from "../steps.ts";
import { certificatePem } from "../../../node/base/pki/info.ts";
import { exportPkcs8Pem } from "../../../node/base/pki/keys.ts";
import { IMAGE_REFS } from "../../images/images.ts";
import { BIN, NET, PORTS } from "../../../node/kubernetes/paths.ts";
import { networkSteps } from "./network_steps.ts";
import { nodeCgroupSteps } from "./cgroup_steps.ts";
import { storageSteps } from "./storage_steps.ts";
import { busyboxPod, runtimeSteps } from "./runtime_steps.ts";

const dec = new TextDecoder();

/** GET over TLS to `host:port` expecting the node certificate of `nodeId`; status and body. */
function httpsGet(
  host: string,
  port: number,
  path: string,
  o: { nodeId: string; ca: Uint8Array; cert?: string; key?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host,
      port,
      path,
      servername: o.nodeId,
      ca: certificatePem(o.ca),
      cert: o.cert,
      key: o.key,
      agent: false,
      timeout: 10_000,
      checkServerIdentity: (_h, cert) =>
        cert.subjectaltname?.split(", ").includes(`DNS:${o.nodeId}`)
          ? undefined
          : new Error(`server is not ${o.nodeId}`),
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => text += d);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

/** Host PIDs of processes in a network namespace whose command line contains `word`. */
async function processesIn(netns: string, word: string): Promise<number[]> {
  const out = await new Deno.Command("ip", { args: ["netns", "pids", netns], stdout: "piped" })
    .output();
  const pids = dec.decode(out.stdout).split(/\s+/).filter(Boolean).map(Number);
  const hits: number[] = [];
  for (const pid of pids) {
    const cmd = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
    if (cmd.split("\0").some((a) => a.split("/").pop() === word)) hits.push(pid);
  }
  return hits;
}

// deno-lint-ignore no-explicit-any -- Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

function ready(node: Obj): boolean {
  return (node.status?.conditions ?? []).some((c: Obj) =>
    c.type === "Ready" && c.status === "True"
  );
}

const HTTPSERVER = (replicas: number) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "httpserver", namespace: "default" },
  spec: {
    replicas,
    selector: { matchLabels: { app: "httpserver" } },
    template: {
      metadata: { labels: { app: "httpserver" } },
      spec: {
        // One replica per worker: the cross-node fetch below needs a pod on another node.
        topologySpreadConstraints: [{
          maxSkew: 1,
          topologyKey: "kubernetes.io/hostname",
          whenUnsatisfiable: "DoNotSchedule",
          labelSelector: { matchLabels: { app: "httpserver" } },
        }],
        containers: [{
          name: "httpserver",
          image: IMAGE_REFS.httpserver,
          imagePullPolicy: "Never",
          ports: [{ containerPort: 8080 }],
          readinessProbe: { httpGet: { path: "/", port: 8080 }, periodSeconds: 1 },
        }],
      },
    },
  },
});

const SERVICE = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "httpserver", namespace: "default" },
  spec: {
    type: "NodePort",
    selector: { app: "httpserver" },
    ports: [{ port: 80, targetPort: 8080, protocol: "TCP" }],
  },
};

/** A run-to-completion busybox pod on `node` running `script`. */
function probePod(name: string, node: string, script: string): Obj {
  return busyboxPod(name, node, ["sh", "-c", script]) as Obj;
}

Deno.test({
  name: "kubernetes: worker role → Ready nodes, pods, services, DNS, authproxy, role removal",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = await launchCluster(resolveOptions({
      "num-nodes": 3,
      "tpm-mode": "disabled",
      tpm: "none",
      subnet: "10.1.50.0/24",
      // A node whose agent dies reboots and rejoins, as a real node would.
      "allow-reboot": true,
    }));
    let ok = false;
    try {
      const api = c.api!;
      const k = (args: string[], stdin?: string) => kubectl(`${c.stateDir}/kubectl`, args, stdin);
      const json = async (args: string[]) => JSON.parse(await k([...args, "-o", "json"]));
      await stepAllHealthy(api, 3, 60);
      const ids = await c.nodeIds();
      const workers = [ids[1], ids[2]];

      await testEventual("kubectl through the authproxy as the owner", 120, async () => {
        const v = await k(["get", "--raw", "/version"]);
        if (!JSON.parse(v).gitVersion?.startsWith("v1.32.")) throw permanent(`version ${v}`);
      });
      // Node 0 holds ConsensusMember + KubernetesController (bootstrap).
      await nodeCgroupSteps(ids[0], (w) => processesIn(netnsName(c.topology.bridge, 0), w));

      for (const id of workers) {
        await api.management((m) =>
          m.updateNodeRoles({ node: { case: "id", value: id }, kubernetesWorker: true })
        );
      }
      const granted = Date.now();
      await testEventual("both workers Ready with role labels", 60, async () => {
        const nodes: Obj[] = (await json(["get", "nodes"])).items;
        for (const id of workers) {
          const n = nodes.find((x) => x.metadata.name === id);
          if (!n || !ready(n)) throw new Error(`node ${id} not Ready`);
          const l = n.metadata.labels ?? {};
          if (!("node-role.kubernetes.io/KubernetesWorker" in l)) {
            throw new Error(`node ${id} lacks the KubernetesWorker role label`);
          }
        }
      });
      console.log(
        `  workers Ready ${((Date.now() - granted) / 1000).toFixed(1)} s after the grant`,
      );

      await testEventual("synchronised Metropolis label appears on the Node", 60, async () => {
        await api.management((m) =>
          m.updateNodeLabels({
            node: { case: "id", value: workers[0] },
            upsert: [{ key: "test-sync", value: "yes" }],
          })
        );
        const n = await json(["get", "node", workers[0]]);
        if (n.metadata.labels?.["test-sync"] !== "yes") throw new Error("label not synced yet");
      });
      await testEventual("removed Metropolis label disappears from the Node", 60, async () => {
        await api.management((m) =>
          m.updateNodeLabels({ node: { case: "id", value: workers[0] }, delete: ["test-sync"] })
        );
        const n = await json(["get", "node", workers[0]]);
        if ("test-sync" in (n.metadata.labels ?? {})) throw new Error("label still there");
      });

      await k(["apply", "-f", "-"], JSON.stringify(HTTPSERVER(2)));
      await k(["apply", "-f", "-"], JSON.stringify(SERVICE));
      const pods = await testEventual(
        "httpserver Deployment Running on both workers",
        120,
        async () => {
          const items: Obj[] = (await json(["get", "pods", "-l", "app=httpserver"])).items;
          const running = items.filter((p) =>
            p.status?.phase === "Running" &&
            (p.status?.conditions ?? []).some((x: Obj) => x.type === "Ready" && x.status === "True")
          );
          const on = new Set(running.map((p) => p.spec.nodeName));
          if (on.size < 2) throw new Error(`${running.length} ready pods on ${[...on]}`);
          return running;
        },
      );

      await testEventual("kubectl exec and logs through the authproxy", 60, async () => {
        const name = pods[0].metadata.name;
        const page = await k(["exec", name, "--", "cat", "/www/index.html"]);
        if (!page.includes("metropolis-httpserver")) throw new Error(`exec gave ${page}`);
        await k(["logs", name]);
      });

      const svc = await json(["get", "service", "httpserver"]);
      const nodePort = svc.spec.ports[0].nodePort as number;
      await testEventual(
        "httpserver through the ClusterIP from a pod on the other node",
        120,
        async () => {
          const target = pods.find((p) => p.spec.nodeName === workers[1]) ?? pods[0];
          const from = workers.find((w) => w !== target.spec.nodeName)!;
          const name = `fetch-${Date.now() % 100000}`;
          await k(
            ["apply", "-f", "-"],
            JSON.stringify(probePod(
              name,
              from,
              // busybox-static's wget segfaults (static glibc NSS), so HTTP is spoken with nc;
              // the service name resolves through the cluster DNS (busybox's own resolver).
              `
          nslookup httpserver.default.svc.${NET.clusterDomain} | grep -q ${svc.spec.clusterIP} &&
          printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${svc.spec.clusterIP} 80`,
            )),
          );
          try {
            for (let i = 0; i < 30; i++) {
              const p = await json(["get", "pod", name]);
              if (p.status?.phase === "Succeeded") {
                const log = await k(["logs", name]);
                if (!log.includes("metropolis-httpserver")) throw permanent(`fetched ${log}`);
                return;
              }
              if (p.status?.phase === "Failed") {
                throw new Error(`probe failed: ${(await k(["logs", name])).slice(0, 300)}`);
              }
              await new Promise((r) => setTimeout(r, 1000));
            }
            throw new Error("probe pod did not finish in 30 s");
          } finally {
            await k(["delete", "pod", name, "--wait=false"]).catch(() => {});
          }
        },
      );

      await testEventual("httpserver through a NodePort from the host", 60, async () => {
        const r = await fetch(`http://${c.nodeAddress(1)}:${nodePort}/`, {
          signal: AbortSignal.timeout(5000),
        });
        const text = await r.text();
        if (!text.includes("metropolis-httpserver")) throw new Error(`NodePort gave ${text}`);
      });

      await testEventual("selftest pod: cluster DNS and the apiserver service", 60, async () => {
        const name = `selftest-${Date.now() % 100000}`;
        await k(
          ["apply", "-f", "-"],
          JSON.stringify(probePod(
            name,
            workers[0],
            `
          nslookup kubernetes.default.svc.${NET.clusterDomain} ${NET.clusterDns} &&
          nc -w 5 ${NET.apiserverServiceIp} 443 </dev/null`,
          )),
        );
        try {
          for (let i = 0; i < 30; i++) {
            const p = await json(["get", "pod", name]);
            if (p.status?.phase === "Succeeded") return;
            if (p.status?.phase === "Failed") {
              throw new Error(`selftest failed: ${(await k(["logs", name])).slice(0, 300)}`);
            }
            await new Promise((r) => setTimeout(r, 1000));
          }
          throw new Error("selftest did not finish in 30 s");
        } finally {
          await k(["delete", "pod", name, "--wait=false"]).catch(() => {});
        }
      });

      const owner = api.owner;
      const ownerKey = await exportPkcs8Pem(owner.keys.privateKey);
      await testEventual("authproxy: no certificate → 401 Unauthorized Status", 60, async () => {
        const r = await httpsGet(c.nodeAddress(0), PORTS.authproxy, "/api/v1/nodes", {
          nodeId: ids[0],
          ca: owner.caCertificate,
        }).catch((e) => ({ status: 0, body: String(e) }));
        // A TLS alert for the missing certificate is as good as a 401: nothing was proxied.
        if (r.status !== 0 && r.status !== 401) throw permanent(`HTTP ${r.status}: ${r.body}`);
        if (r.status === 401) assert.match(r.body, /Unauthorized/);
      });
      await testEventual("metroctl k8s configure, then kubectl with that context", 60, async () => {
        const dir = await Deno.makeTempDir({ prefix: "metropolis-kubeconfig-" });
        try {
          const env = { KUBECONFIG: `${dir}/config` };
          const metroctl = metroctlCommand();
          const m = await new Deno.Command(metroctl.command, {
            args: [
              ...metroctl.prefix,
              "--config",
              `${c.stateDir}/metroctl`,
              "--proxy",
              c.socks.address,
              "--endpoints",
              c.nodeAddress(0),
              "k8s",
              "configure",
            ],
            env,
            stdout: "piped",
            stderr: "piped",
          }).output();
          if (!m.success) throw new Error(`k8s configure: ${dec.decode(m.stderr).slice(0, 300)}`);
          const out = await new Deno.Command(`${c.payloads}${BIN.kube}`, {
            args: ["kubectl", "--context=metroctl", "get", "nodes", "-o", "name"],
            env,
            stdout: "piped",
            stderr: "piped",
          }).output();
          const names = dec.decode(out.stdout);
          if (!out.success || !names.includes(workers[0])) {
            throw new Error(`kubectl: ${names} ${dec.decode(out.stderr).slice(0, 300)}`);
          }
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });
      await testEventual("authproxy: the owner certificate is proxied", 60, async () => {
        const r = await httpsGet(c.nodeAddress(0), PORTS.authproxy, "/api/v1/nodes", {
          nodeId: ids[0],
          ca: owner.caCertificate,
          cert: certificatePem(owner.certificate),
          key: ownerKey,
        });
        if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 200)}`);
      });

      await testEventual("containerd and apiserver metrics through :7840", 60, async () => {
        for (
          const [node, exporter, want] of [
            [1, "containerd", "containerd_"],
            [0, "kubernetes-apiserver", "apiserver_request_total"],
          ] as const
        ) {
          const r = await httpsGet(c.nodeAddress(node), PORTS.metrics, `/metrics/${exporter}`, {
            nodeId: ids[node],
            ca: owner.caCertificate,
            cert: certificatePem(owner.certificate),
            key: ownerKey,
          });
          if (r.status !== 200 || !r.body.includes(want)) {
            throw new Error(
              `${exporter} on node ${node}: HTTP ${r.status} ${r.body.slice(0, 200)}`,
            );
          }
        }
      });

      await networkSteps(c, [{ id: workers[0], index: 1 }, { id: workers[1], index: 2 }]);
      await runtimeSteps(c, workers[0]);
      await storageSteps(c, [{ id: workers[0], index: 1 }, { id: workers[1], index: 2 }]);

      await api.management((m) =>
        m.updateNodeRoles({ node: { case: "id", value: workers[1] }, kubernetesWorker: false })
      );
      await testEventual("role removed: no kubelet or containerd left", 60, async () => {
        const netns = netnsName(c.topology.bridge, 2);
        for (const w of ["kubelet", "containerd"]) {
          const left = await processesIn(netns, w);
          if (left.length) throw new Error(`${w} still running (${left})`);
        }
      });
      // Kubernetes notices a silent kubelet only after its node-monitor grace period (40 s).
      await testEventual("role removed: the Node goes NotReady", 90, async () => {
        const n = await json(["get", "nodes"]).then((l) =>
          l.items.find((x: Obj) => x.metadata.name === workers[1])
        );
        if (n && ready(n)) throw new Error("Node still Ready");
      });
      ok = true;
    } finally {
      if (!ok) console.log(`kubernetes: keeping state in ${c.stateDir}`);
      await c.close(ok);
    }
  },
});
