/**
 * `deno task bench kubernetes [--pods N] [--wait S]` (testing.md §5 `k8s-ready` and the
 * Kubernetes half of `rss`; issue #11 deliverable 7). A 3-node namespace cluster: node 0 is
 * ConsensusMember + KubernetesController (from the bootstrap), nodes 1 and 2 start without a role.
 *
 * 1. `--wait` s (30) after UP and HEALTHY: VmRSS of the no-role agents (nodes 1, 2).
 * 2. KubernetesWorker granted to nodes 1 and 2 (`Management.UpdateNodeRoles`, as `metroctl node
 *    add role` does) → the Node's Ready condition True, per node, seen by a `kubectl get nodes
 *    --watch` started before the grant (client side; the Ready condition's lastTransitionTime −
 *    grant, 1 s resolution, as a cross-check).
 * 3. One Deployment of `--pods` (20) busybox replicas (preseeded image, `imagePullPolicy: Never`)
 *    → each pod Running and Ready. Client side: a `kubectl get pods --watch` started before the
 *    Deployment; per pod from the first event naming it (its creation, as the watch sees it) to
 *    the first event with phase Running and Ready=True. Also apply → Running per pod and the
 *    server's creationTimestamp → Ready lastTransitionTime (1 s resolution).
 * 4. `--wait` s after all pods run: VmRSS of the worker and controller agents, and each node's
 *    process tree in total (everything below its `/init`: agent, etcd, apiserver, controller
 *    manager, scheduler; or containerd, kubelet, kube-proxy, shims and pod processes), as the sum
 *    of VmRSS and the sum of PSS (shared pages split between their users), with a breakdown.
 *
 * Every kubectl call goes through the launcher's `<state>/kubectl` wrapper (the `kube` binary's
 * kubectl → SOCKS5 → the authproxy with the owner certificate; its credential plugin is a
 * metroctl process per call, so one-shot calls are slow and polling would blur the timing).
 */
import { kubectl } from "../launch/kubectl.ts";
import { launchCluster } from "../launch/cluster.ts";
import { resolveOptions } from "../launch/options.ts";
import { IMAGE_REFS } from "../images/images.ts";
import { percentile, progress, report } from "./report.ts";
import { agentPid, arg, memoryDetail, vmRss } from "./rss.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s = (ms: number) => Math.round(ms / 10) / 100;

/** First sighting and completion time per object name, from watch events. */
export class Observed {
  /** When a name was first seen. */
  readonly first = new Map<string, number>();
  /** When a name was first seen in its final state. */
  readonly done = new Map<string, number>();
  /** Names already final when first seen (the watch started late for them). */
  readonly doneAtFirst = new Set<string>();

  /** Records one event for `name` at `t`. */
  see(name: string, isDone: boolean, t: number): void {
    if (!this.first.has(name)) {
      this.first.set(name, t);
      if (isDone) this.doneAtFirst.add(name);
    }
    if (isDone && !this.done.has(name)) this.done.set(name, t);
  }
}

/**
 * `kubectl get <what> --watch -o jsonpath=<template>` (the template ends each object with a
 * newline); `onLine(fields, Date.now())` per object. Restarted when kubectl ends (it lists first,
 * so nothing is lost but the timing of that moment) until stopped.
 */
function watch(
  wrapper: string,
  what: string[],
  template: string,
  onLine: (fields: string[], t: number) => void,
): { stop(): Promise<void> } {
  let stopped = false;
  let child: Deno.ChildProcess | undefined;
  const loop = (async () => {
    while (!stopped) {
      child = new Deno.Command(wrapper, {
        args: ["get", ...what, "--watch", "-o", `jsonpath=${template}`],
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      let buf = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        const t = Date.now();
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) onLine(line.split(/\s+/), t);
        }
      }
      await child.status;
      if (!stopped) {
        progress(`kubernetes: watch of ${what.join(" ")} ended; restarting it`);
        await sleep(500);
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      try {
        child?.kill("SIGTERM");
      } catch { /* already ended */ }
      await loop.catch(() => {});
    },
  };
}

/** Polls `check` every 200 ms until it returns true; throws `what` after `timeoutS`. */
async function until(what: string, timeoutS: number, check: () => boolean): Promise<void> {
  const end = Date.now() + timeoutS * 1000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutS} s`);
    await sleep(200);
  }
}

/** Host PIDs of `root` and all its descendants (parents read from /proc/<pid>/stat). */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(e.name));
      children.set(ppid, list);
    } catch { /* gone */ }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...children.get(p) ?? []);
  }
  return out;
}

/** `comm` of `pid`; for the `kube` multicall binary its applet (`kube:kubelet`). */
async function processName(pid: number): Promise<string> {
  const comm = (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
  if (comm !== "kube") return comm;
  const argv = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0");
  return argv[1] ? `kube:${argv[1]}` : comm;
}

/** Sum of VmRSS and PSS (MB) of a node's process tree, with MB per command name. */
async function treeMemory(
  initPid: number,
): Promise<{ rssMB: number; pssMB: number; processes: number; byName: string }> {
  let rss = 0, pss = 0, processes = 0;
  const byName = new Map<string, { kb: number; n: number }>();
  for (const pid of processTree(initPid)) {
    try {
      const kb = await vmRss(pid);
      if (!Number.isFinite(kb)) continue; // zombie
      const d = await memoryDetail(pid);
      const name = await processName(pid);
      rss += kb;
      pss += d.pss;
      processes++;
      const e = byName.get(name) ?? { kb: 0, n: 0 };
      e.kb += kb;
      e.n++;
      byName.set(name, e);
    } catch { /* gone */ }
  }
  const mb = (kb: number) => Math.round(kb / 102.4) / 10;
  return {
    rssMB: mb(rss),
    pssMB: mb(pss),
    processes,
    byName: [...byName].sort((a, b) => b[1].kb - a[1].kb)
      .map(([n, e]) => `${n}${e.n > 1 ? `×${e.n}` : ""}:${mb(e.kb)}`).join(","),
  };
}

/** The agent PID of node `i`, or throws. */
function agentOf(initPid: number | undefined, i: number): number {
  const pid = initPid === undefined ? undefined : agentPid(initPid);
  if (pid === undefined) throw new Error(`node ${i}: agent process not found`);
  return pid;
}

// deno-lint-ignore no-explicit-any -- Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

const readyAt = (o: Obj) =>
  (o.status?.conditions ?? []).find((c: Obj) => c.type === "Ready" && c.status === "True")
    ?.lastTransitionTime as string | undefined;

const APP = "bench-k8s";

/** The kubernetes benchmark. */
export async function kubernetes(args: string[]): Promise<void> {
  const wait = arg(args, "wait", 30);
  const replicas = arg(args, "pods", 20);
  const c = await launchCluster({
    ...resolveOptions({
      "num-nodes": 3,
      "tpm-mode": "disabled",
      tpm: "none",
      subnet: "10.1.51.0/24",
    }),
    // As in `rss`: each agent on its own copy of the runtime, as on a VM.
    privateRuntime: true,
  });
  const watches: { stop(): Promise<void> }[] = [];
  try {
    const api = c.api!;
    const wrapper = `${c.stateDir}/kubectl`;
    const k = (a: string[], stdin?: string) => kubectl(wrapper, a, stdin);
    const ids = await c.nodeIds();
    const workers = [1, 2];
    const agents = [0, 1, 2].map((i) => agentOf(c.nodes[i].initPid, i));

    progress(`kubernetes: cluster UP and HEALTHY; waiting ${wait} s for the no-role agents`);
    await sleep(wait * 1000);
    const noRole = await Promise.all(workers.map((i) => vmRss(agents[i])));
    const noRolePss = await Promise.all(workers.map((i) => memoryDetail(agents[i])));
    report({
      bench: "k8s-rss-agent-no-role",
      value: noRole[0] / 1024,
      unit: "MB",
      target: "<= 64",
      runs: 1,
      extra: {
        node: 1,
        waitS: wait,
        pssMB: Math.round(noRolePss[0].pss / 102.4) / 10,
        node2MB: Math.round(noRole[1] / 102.4) / 10,
      },
      ok: noRole[0] / 1024 <= 64,
    });

    progress("kubernetes: waiting for the apiserver through the authproxy");
    const apiDeadline = Date.now() + 180_000;
    for (;;) {
      try {
        await k(["get", "--raw", "/version"]);
        break;
      } catch (e) {
        if (Date.now() > apiDeadline) throw e;
        await sleep(1000);
      }
    }

    // Node Ready: the watch runs before the grant so every transition is seen as it happens.
    const nodes = new Observed();
    watches.push(watch(
      wrapper,
      ["nodes"],
      '{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}',
      ([name, ready], t) => nodes.see(name, ready === "True", t),
    ));
    await sleep(3000); // the watch's kubectl and credential plugin start
    const granted = new Map<string, number>();
    for (const i of workers) {
      granted.set(ids[i], Date.now());
      await api.management((m) =>
        m.updateNodeRoles({ node: { case: "id", value: ids[i] }, kubernetesWorker: true })
      );
    }
    progress("kubernetes: KubernetesWorker granted to nodes 1 and 2; waiting for Ready");
    await until("worker Nodes Ready", 120, () => workers.every((i) => nodes.done.has(ids[i])));
    const nodeObjs: Obj[] = JSON.parse(await k(["get", "nodes", "-o", "json"])).items;
    for (const i of workers) {
      const id = ids[i];
      const took = nodes.done.get(id)! - granted.get(id)!;
      const server = readyAt(nodeObjs.find((n) => n.metadata.name === id) ?? {});
      report({
        bench: "k8s-node-ready",
        value: took / 1000,
        unit: "s",
        target: "<= 15",
        runs: 1,
        extra: {
          node: i,
          method: "client: grant call → Ready=True in kubectl get nodes --watch",
          serverS: server ? s(Date.parse(server) - granted.get(id)!) : "?",
        },
        ok: took <= 15_000,
      });
    }

    // Pods: one Deployment, the watch started before it.
    const pods = new Observed();
    watches.push(watch(
      wrapper,
      ["pods", "-l", `app=${APP}`],
      '{.metadata.name}{" "}{.status.phase}{" "}' +
        '{.status.conditions[?(@.type=="Ready")].status}{"\\n"}',
      ([name, phase, ready], t) => pods.see(name, phase === "Running" && ready === "True", t),
    ));
    await sleep(3000);
    const applied = Date.now();
    await k(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: APP, namespace: "default" },
        spec: {
          replicas,
          selector: { matchLabels: { app: APP } },
          template: {
            metadata: { labels: { app: APP } },
            spec: {
              terminationGracePeriodSeconds: 0,
              containers: [{
                name: "sleep",
                image: IMAGE_REFS.busybox,
                imagePullPolicy: "Never",
                command: ["sleep", "3600"],
              }],
            },
          },
        },
      }),
    );
    progress(`kubernetes: Deployment of ${replicas} pods applied; waiting for Running`);
    await until(`${replicas} pods Running and Ready`, 180, () => pods.done.size >= replicas);
    const allRunning = Date.now() - applied;
    const podObjs: Obj[] = JSON.parse(
      await k(["get", "pods", "-l", `app=${APP}`, "-o", "json"]),
    ).items;
    const names = [...pods.done.keys()];
    const perPod = names.map((n) => pods.done.get(n)! - pods.first.get(n)!);
    const fromApply = names.map((n) => pods.done.get(n)! - applied);
    const server = podObjs.map((p) => {
      const r = readyAt(p);
      return r ? Date.parse(r) - Date.parse(p.metadata.creationTimestamp) : NaN;
    }).filter(Number.isFinite);
    const perNode = new Map<string, number>();
    for (const p of podObjs) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
    const p50 = percentile(perPod, 50);
    report({
      bench: "k8s-pod-running",
      value: p50 / 1000,
      unit: "s",
      target: "p50 <= 2",
      runs: perPod.length,
      extra: {
        method: "client: first watch event naming the pod → first with phase Running, Ready=True",
        p50: s(p50),
        p90: s(percentile(perPod, 90)),
        max: s(percentile(perPod, 100)),
        firstSeenAlreadyRunning: pods.doneAtFirst.size,
        fromApplyP50: s(percentile(fromApply, 50)),
        fromApplyP90: s(percentile(fromApply, 90)),
        fromApplyMax: s(percentile(fromApply, 100)),
        allRunningS: s(allRunning),
        serverP50: s(percentile(server, 50)),
        serverP90: s(percentile(server, 90)),
        serverMax: s(percentile(server, 100)),
        perNode: [...perNode].map(([n, x]) => `${ids.indexOf(n)}:${x}`).join(","),
      },
      ok: p50 <= 2000,
    });
    for (const w of watches.splice(0)) await w.stop();

    progress(`kubernetes: all pods running; waiting ${wait} s before reading memory`);
    await sleep(wait * 1000);
    for (const [i, kind] of [[1, "worker"], [2, "worker"], [0, "controller"]] as const) {
      const kb = await vmRss(agents[i]);
      const d = await memoryDetail(agents[i]);
      report({
        bench: `k8s-rss-agent-${kind}`,
        value: kb / 1024,
        unit: "MB",
        target: "report",
        runs: 1,
        extra: {
          node: i,
          roles: i === 0 ? "ConsensusMember+KubernetesController" : "KubernetesWorker",
          waitS: wait,
          pssMB: Math.round(d.pss / 102.4) / 10,
        },
      });
    }
    for (const [i, kind] of [[0, "controller"], [1, "worker"], [2, "worker"]] as const) {
      const t = await treeMemory(c.nodes[i].initPid!);
      report({
        bench: `k8s-rss-node-${kind}`,
        value: t.rssMB,
        unit: "MB",
        target: "report",
        runs: 1,
        extra: {
          node: i,
          what: "sum of VmRSS below /init (pods included)",
          pssMB: t.pssMB,
          processes: t.processes,
          pods: perNode.get(ids[i]) ?? 0,
          byName: t.byName,
        },
      });
    }
  } finally {
    for (const w of watches) await w.stop();
    await c.close();
  }
}
