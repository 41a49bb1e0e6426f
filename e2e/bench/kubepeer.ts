/**
 * The Kubernetes peer of the control-plane benchmarks (issue #16): the project's `kube
 * kube-apiserver` with the command line our controllers give it ({@link apiserverArgs}, only the
 * port, bind address and etcd moved), on its own etcd (Debian etcd 3.4, unix socket), with the
 * Kubernetes PKI in memory. The client is kubepeer/main.go (Go net/http over HTTP/2 with the
 * `master` client certificate, as client-go talks to the apiserver), built by
 * kubepeer/build.ts with the project's Go toolchain and cached by input hash.
 *
 * Seeded Nodes are shaped like a kubelet registers them ({@link kubeNode}), mirroring the
 * curator's bench records (seed.ts): the same IDs, labels and addresses, the curator state and
 * the worker role as labels, and the kubelet's node conditions.
 */
import { MemoryPkiStorage } from "../../node/base/pki/mod.ts";
import { startTestEtcd } from "../../node/core/consensus/testing.ts";
import { NodeState } from "../../proto/gen/metropolis/proto/common/common_pb.ts";
import type { Node as NodeRecord } from "../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import {
  apiserverArgs,
  apiserverFiles,
  etcdSocketUrl,
  readyzProbe,
  writeApiserverFiles,
} from "../../node/kubernetes/apiserver/apiserver.ts";
import { buildKube } from "../../node/kubernetes/hyperkube/build.ts";
import { pemFiles, writeComponentFiles } from "../../node/kubernetes/pki/files.ts";
import { KubernetesPKI } from "../../node/kubernetes/pki/kubepki.ts";
import { buildKubeClient } from "./kubepeer/build.ts";
import { freePort } from "./etcd_floor.ts";
import { cpuSeconds } from "./proc.ts";
import { runKubeClient } from "./goclient.ts";
import { progress } from "./report.ts";

/** Label carrying the curator's node state on the peer's Nodes. */
export const STATE_LABEL = "node.metropolis.monogon.dev/state";
/** Label of the KubernetesWorker role on the peer's Nodes. */
export const WORKER_LABEL = "node-role.kubernetes.io/KubernetesWorker";

/** How long the peer's kube-apiserver may take to stop after SIGTERM before it is killed. */
const APISERVER_STOP_GRACE_MS = 20_000;

const STATE_VALUES: Record<number, string> = {
  [NodeState.NEW]: "new",
  [NodeState.STANDBY]: "standby",
  [NodeState.UP]: "up",
  [NodeState.DECOMMISSIONED]: "decommissioned",
};

/**
 * The label selector equivalent to the GetNodes filter
 * `node.state == NODE_STATE_UP && has(node.roles.kubernetes_worker)`.
 */
export const UP_WORKER_SELECTOR = `${STATE_LABEL}=up,${WORKER_LABEL}`;

/**
 * The Kubernetes Node a kubelet would register for the curator record `r`: name = node ID,
 * the record's labels plus the kubelet's well-known ones, state and role as labels, the external
 * address as InternalIP, capacity, node info and the kubelet's five conditions (Ready and the
 * four pressure/network ones). Container images are omitted (a kubelet lists up to 50).
 */
export function kubeNode(r: NodeRecord, now = new Date()): Record<string, unknown> {
  const t = now.toISOString().replace(/\.\d+Z$/, "Z");
  const labels: Record<string, string> = {
    "kubernetes.io/hostname": r.id,
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
    "beta.kubernetes.io/os": "linux",
    "beta.kubernetes.io/arch": "amd64",
    [STATE_LABEL]: STATE_VALUES[r.fsmState] ?? "unknown",
  };
  for (const p of r.labels?.pairs ?? []) labels[p.key] = p.value;
  if (r.roles?.kubernetesWorker) labels[WORKER_LABEL] = "";
  const cond = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    lastHeartbeatTime: t,
    lastTransitionTime: t,
    reason,
    message,
  });
  const resources = { cpu: "2", memory: "8130440Ki", pods: "110", "ephemeral-storage": "20Gi" };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: r.id, labels },
    spec: {},
    status: {
      addresses: [
        ...(r.status?.externalAddress
          ? [{ type: "InternalIP", address: r.status.externalAddress }]
          : []),
        { type: "Hostname", address: r.id },
      ],
      capacity: resources,
      allocatable: resources,
      conditions: [
        cond("NetworkUnavailable", "False", "RouteCreated", "routes created"),
        cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has memory"),
        cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID"),
        cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: r.id.slice(-32),
        systemUUID: r.id.slice(-32),
        bootID: r.id.slice(-32),
        kernelVersion: "6.12.0-metropolis",
        osImage: "Metropolis",
        containerRuntimeVersion: "containerd://1.7.24",
        kubeletVersion: "v1.32.2",
        kubeProxyVersion: "v1.32.2",
        operatingSystem: "linux",
        architecture: "amd64",
      },
    },
  };
}

/** A running peer apiserver and its client. */
export interface KubePeer {
  /** `https://127.0.0.1:<port>`. */
  server: string;
  apiserverPid: number;
  etcdPid: number;
  /** utime+stime of apiserver and etcd together, in seconds. */
  cpuSeconds(): { apiserver: number; etcd: number };
  /** Runs `kubeclient <command> <args>` against the peer; its JSON output line, parsed. */
  client(command: string, args: string[], stdin?: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Starts etcd and the apiserver, waits for /readyz (at most 120 s). */
export async function startKubePeer(): Promise<KubePeer> {
  const [kube, kubeclient] = await Promise.all([buildKube(), buildKubeClient()]);
  const etcd = await startTestEtcd({ name: "kubepeer" });
  const dir = await Deno.makeTempDir({ prefix: "metropolis-kubepeer-" });
  const pki = new KubernetesPKI(new MemoryPkiStorage());
  const files = apiserverFiles(`${dir}/apiserver`);
  const caPem = await writeApiserverFiles(pki, files);
  const master = await pki.identity("master");
  await writeComponentFiles(`${dir}/client`, { "ca.crt": caPem, ...pemFiles("master", master) });
  const port = freePort();
  const server = `https://127.0.0.1:${port}`;
  const args = [
    ...apiserverArgs({
      address: "127.0.0.1",
      etcdServers: etcdSocketUrl(etcd.dir),
      files,
    }),
    // Later flags win: a free port on loopback instead of :6443 on every address.
    `--secure-port=${port}`,
    "--bind-address=127.0.0.1",
  ];
  const child = new Deno.Command(kube, {
    args: ["kube-apiserver", ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  (async () => {
    for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) {
      log = (log + c).slice(-4000);
    }
  })().catch(() => {});
  let exited = false;
  child.status.then(() => exited = true);
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    // Its graceful shutdown hung once after 15,000 Lease renewals (2026-12-03: 11 minutes, no
    // connection left); a bench must not wait on the peer's shutdown.
    const kill = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, APISERVER_STOP_GRACE_MS);
    await child.status;
    clearTimeout(kill);
    await etcd.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const ready = readyzProbe(caPem, server);
  const deadline = Date.now() + 120_000;
  const started = Date.now();
  for (;;) {
    if (await ready(AbortSignal.timeout(3000)).catch(() => false)) break;
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`kube-apiserver did not become ready:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  progress(`kubepeer: kube-apiserver ready on ${server} in ${Date.now() - started} ms`);
  const common = [
    "-server",
    server,
    "-ca",
    `${dir}/client/ca.crt`,
    "-cert",
    `${dir}/client/master.crt`,
    "-key",
    `${dir}/client/master.key`,
  ];
  return {
    server,
    apiserverPid: child.pid,
    etcdPid: etcd.pid,
    cpuSeconds: () => ({ apiserver: cpuSeconds(child.pid), etcd: cpuSeconds(etcd.pid) }),
    async client(command, cargs, stdin) {
      const out = await runKubeClient(kubeclient, command, [...common, ...cargs], stdin);
      return out as Record<string, unknown>;
    },
    stop,
  };
}
