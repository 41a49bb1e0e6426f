/**
 * clusternet in WireGuard mode on VM workers (kubernetes.md §8, issue #13 item 7): 2 VMs of the
 * full image (our kernel has WireGuard; namespace nodes cannot test this), node 0
 * KubernetesController (from the bootstrap) + KubernetesWorker, node 1 KubernetesWorker, subnet
 * 10.1.58.0/24. One listener pod per worker; each pod reaches the other across nodes, and that
 * traffic is seen on both nodes' `clusternet` interface (node_exporter's byte counters of the
 * device, before and after). The keys line up end to end: the key a node configured on its
 * interface is the one it published to the curator, and the one its peer configured for it
 * from the curator's node list (all read from the nodes' own logs); the two keys are 32 bytes
 * and differ.
 *
 * Kept short for the VM tier: no TPM (swtpm adds nothing here), unencrypted data, one cluster.
 * The phases' durations are printed. Under TCG on the project's 2-core machine (2026-12-03, quiet):
 * "Cluster running!" after 144 s, both Nodes Ready after 302 s, pods Ready after 322 s, done after
 * 327 s. Earlier runs found what namespace nodes cannot show, each fixed in the image: no
 * `mount` for the kubelet's volumes, no CONFIG_NFT_NUMGEN for kube-proxy's nftables rules, no
 * CONFIG_CFS_BANDWIDTH for runc's `cpu.max` (no container started).
 */
import assert from "node:assert/strict";
import { type Cluster, launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { kubectl } from "../../launch/kubectl.ts";
import { buildImage } from "../../../os-image/image.ts";
import { CONNECTIVITY, IMAGE_REFS } from "../../images/images.ts";
import { permanent, testEventual } from "../eventual.ts";
import { nodeIdOf, nodeMetrics } from "../core/core_steps.ts";
import {
  LogsRequest_BacklogMode,
  LogsRequest_StreamMode,
  NodeManagement,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { dialService } from "../../../node/core/rpc/client.ts";
import { keyBytes } from "../../../node/base/wireguard/codec.ts";
import { PORTS } from "../../../node/core/constants/ports.ts";
import { CLUSTERNET_LINK } from "../../../node/kubernetes/clusternet/wglink.ts";

const SUBNET = "10.1.58.0/24";
const NS = "clusternet";
const PORT = 8080;
/** DN of clusternet on a worker (its children: publish, wireguard). */
const DN = "root.role.kubernetes.worker.clusternet";

// deno-lint-ignore no-explicit-any -- Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

function listener(name: string, node: string): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 0,
      containers: [{
        name: "conn",
        image: IMAGE_REFS.connectivity,
        imagePullPolicy: "Never",
        env: [{ name: "MODE", value: "listen" }, { name: "PORT", value: String(PORT) }],
        readinessProbe: { tcpSocket: { port: PORT }, periodSeconds: 2 },
      }],
    },
  };
}

/** Lines of node `i`'s clusternet logs (all children), oldest first. */
async function clusternetLogs(c: Cluster, i: number, nodeId: string): Promise<string[]> {
  const api = c.api!;
  const m = await dialService(NodeManagement, `${c.nodeAddress(i)}:${PORTS.nodeManagement}`, {
    ca: api.owner.caCertificate,
    nodeId,
    identity: { certificate: api.owner.certificate, privateKey: api.owner.keys.privateKey },
    socks5: c.socks.address,
  });
  try {
    const lines: string[] = [];
    for await (
      const r of m.logs({
        dn: DN,
        backlogMode: LogsRequest_BacklogMode.ALL,
        streamMode: LogsRequest_StreamMode.DISABLE,
        filters: [{ filter: { case: "withChildren", value: {} } }],
      })
    ) {
      for (const e of r.backlogEntries) {
        if (e.kind.case === "leveled") lines.push(...e.kind.value.lines);
      }
    }
    return lines;
  } finally {
    m.close();
  }
}

/** The last capture of `re` over `lines`. */
function last(lines: string[], re: RegExp): string | undefined {
  let out: string | undefined;
  for (const l of lines) out = re.exec(l)?.[1] ?? out;
  return out;
}

/** Node `i`'s node_exporter counters of the clusternet device: received and sent bytes. */
async function clusternetBytes(
  c: Cluster,
  i: number,
  nodeId: string,
): Promise<{ rx: number; tx: number }> {
  const body = await nodeMetrics(c, i, nodeId, "node");
  const counter = (dir: string) => {
    const m = new RegExp(
      `^node_network_${dir}_bytes_total\\{device="${CLUSTERNET_LINK}"\\} (\\S+)$`,
      "m",
    ).exec(body);
    if (!m) throw new Error(`node ${i}: no ${dir} counter of ${CLUSTERNET_LINK} in its metrics`);
    return Number(m[1]);
  };
  return { rx: counter("receive"), tx: counter("transmit") };
}

Deno.test({
  name: "clusternet: pods on two VM workers reach each other through WireGuard",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const t0 = performance.now();
    const since = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;
    const dir = await Deno.makeTempDir({ prefix: "mkimg-clusternet-" });
    let c: Cluster | undefined;
    let ok = false;
    try {
      const img = await buildImage({ variant: "full", outDir: dir });
      console.log(`clusternet vm: full image built after ${since()}`);
      c = await launchCluster(resolveOptions({
        mode: "vm",
        "num-nodes": 2,
        "kubernetes-worker": "0,1",
        tpm: "none",
        "tpm-mode": "disabled",
        subnet: SUBNET,
        image: img.outDir,
        ram: "3072M",
        // Node 0 starts the whole Kubernetes control plane at bootstrap: with one TCG vCPU its
        // curator stopped answering the launcher for > 30 s on a loaded host.
        cpu: 2,
        "allow-reboot": true,
        keep: false,
      }));
      console.log(`clusternet vm: 2 VM nodes (TCG) "Cluster running!" after ${since()}`);
      const cl = c;
      const k = (args: string[], stdin?: string) => kubectl(`${cl.stateDir}/kubectl`, args, stdin);
      const ids = [await nodeIdOf(c, 0), await nodeIdOf(c, 1)];
      const addr = [c.nodeAddress(0), c.nodeAddress(1)];

      await testEventual("both Kubernetes Nodes Ready", 1800, async () => {
        const nodes: Obj[] = JSON.parse(await k(["get", "nodes", "-o", "json"])).items;
        for (const id of ids) {
          const n = nodes.find((n) => n.metadata.name === id);
          const ready = (n?.status?.conditions ?? []).some((x: Obj) =>
            x.type === "Ready" && x.status === "True"
          );
          if (!ready) throw new Error(`${id} not Ready`);
        }
      });
      console.log(`clusternet vm: both Nodes Ready after ${since()}`);

      // Keys: what each node put on its interface, published, and what its peer configured.
      const keys = await testEventual(
        "each node's clusternet key is up, published, peered",
        600,
        async () => {
          const logs = [await clusternetLogs(cl, 0, ids[0]), await clusternetLogs(cl, 1, ids[1])];
          const out: string[] = [];
          for (const i of [0, 1]) {
            const iface = last(logs[i], /interface clusternet up: public key (\S+),/);
            const published = last(logs[i], /published key (\S+), prefixes .*10\.192\./);
            if (!iface || !published) {
              throw new Error(`node ${i}: interface ${iface}, published ${published}`);
            }
            assert.equal(published, iface, `node ${i} publishes the key its interface uses`);
            assert.equal(keyBytes(iface).length, 32);
            out.push(iface);
          }
          for (const [i, j] of [[0, 1], [1, 0]]) {
            const peers = last(logs[i], /^peers: (.*)$/) ?? "";
            const want = `${out[j]}@${addr[j]}:${PORTS.clusternet} [`;
            if (!peers.includes(want) || !/10\.192\./.test(peers)) {
              throw new Error(`node ${i} peers "${peers}" lack ${want}… with a pod prefix`);
            }
          }
          return out;
        },
      );
      assert.notEqual(keys[0], keys[1], "the nodes' keys differ");

      await k(["create", "namespace", NS]);
      for (const [i, name] of [[0, "server-a"], [1, "server-b"]] as const) {
        await k(["apply", "-f", "-"], JSON.stringify(listener(name, ids[i])));
      }
      const ips = await testEventual("one listener pod Ready on each worker", 1200, async () => {
        const pods: Obj[] = JSON.parse(await k(["get", "pods", "-n", NS, "-o", "json"])).items;
        const byName = new Map(pods.map((p) => [p.metadata.name, p]));
        return ["server-a", "server-b"].map((n) => {
          const p = byName.get(n);
          if (p?.status?.phase === "Failed") throw permanent(`${n} failed`);
          const ready = (p?.status?.conditions ?? []).some((x: Obj) =>
            x.type === "Ready" && x.status === "True"
          );
          if (!ready || !p?.status?.podIP) throw new Error(`${n} not Ready`);
          return p.status.podIP as string;
        });
      });
      console.log(`clusternet vm: pods ${ips.join(", ")} Ready after ${since()}`);

      const before = [await clusternetBytes(c, 0, ids[0]), await clusternetBytes(c, 1, ids[1])];
      for (
        const [from, to, i] of [["server-a", "server-b", 1], ["server-b", "server-a", 0]] as const
      ) {
        await testEventual(`${from} → ${to} (${ips[i]}) across nodes`, 120, async () => {
          const out = await k([
            "exec",
            "-n",
            NS,
            from,
            "--",
            "/bin/sh",
            CONNECTIVITY,
            "probe",
            // The listener answers `connectivity <pod name>`: the right pod answered.
            `cross=tcp:${ips[i]}:${PORT}:${to}`,
          ]);
          if (!/^cross ok$/m.test(out)) throw new Error(out.trim());
        });
      }
      const after = [await clusternetBytes(c, 0, ids[0]), await clusternetBytes(c, 1, ids[1])];
      for (const i of [0, 1]) {
        console.log(
          `  node ${i} ${CLUSTERNET_LINK}: rx ${before[i].rx} → ${after[i].rx} B, ` +
            `tx ${before[i].tx} → ${after[i].tx} B`,
        );
        assert.ok(after[i].rx > before[i].rx, `node ${i} received nothing on ${CLUSTERNET_LINK}`);
        assert.ok(after[i].tx > before[i].tx, `node ${i} sent nothing on ${CLUSTERNET_LINK}`);
      }
      console.log(`clusternet vm: done after ${since()}`);
      ok = true;
    } finally {
      await c?.close(ok);
      if (!Deno.env.get("E2E_KEEP")) await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
