/**
 * The node's cgroups (issue #13): which processes share the CPU with which weight, so that
 * Kubernetes cannot starve the node's own control plane. Without them every process the agent
 * starts lands in the agent's cgroup and competes equally: on a one-vCPU node the starting
 * apiserver took so much CPU that the curator missed its 10 s etcd lease.
 *
 * Below the node's cgroup root (`/` on a node owning its machine, `/metropolis-<node ID>` on a
 * namespace node sharing the host's hierarchies; Platform.workerHost(id).cgroupRoot):
 *
 * - `system`: the agent (curator, gRPC services) and etcd — the highest CPU weight, and memory
 *   protection;
 * - `kubernetes-control`: kube-apiserver, kube-controller-manager, kube-scheduler;
 * - `kubernetes-runtime`: kubelet, containerd (and the shims it starts), kube-proxy — lowest;
 * - `kubepods`: the pods, the kubelet's own subtree with the weight the kubelet gives it.
 *
 * cpu.weight is relative among siblings (default 100): when all want CPU, each group gets its
 * weight's share; when `system` idles, the others use everything. A group
 * waking up with a large weight is also scheduled sooner, which is what lease renewals need.
 * memory.low protects the agent and etcd (≈ 140 MB agent RSS plus etcd at our sizes) from reclaim
 * while others use memory. On a cgroup v1 host (namespace nodes on a hybrid host) the same
 * weights become `cpu.shares` (weight × 1024 / 100, systemd's mapping) and memory is not
 * protected.
 * @module
 */

/** A group of {@link NODE_GROUPS}. */
export type NodeGroup = "system" | "kubernetes-control" | "kubernetes-runtime";

/** One group below the node's cgroup root. */
export interface GroupSpec {
  name: NodeGroup;
  /** cgroup v2 `cpu.weight` (1–10000, default 100). */
  cpuWeight: number;
  /** cgroup v2 `memory.low` in bytes (best-effort protection from reclaim); none: unprotected. */
  memoryLow?: number;
}

/** The one definition of the node's groups and their weights (see the module comment). */
export const NODE_GROUPS: readonly GroupSpec[] = Object.freeze([
  { name: "system", cpuWeight: 1000, memoryLow: 256 * 1024 * 1024 },
  { name: "kubernetes-control", cpuWeight: 200 },
  { name: "kubernetes-runtime", cpuWeight: 100 },
]);

/** The kubelet's subtree below the same root (cgroupfs driver): the kubelet's, not ours. */
export const KUBEPODS = "kubepods";

/** Where the node's groups can be made. */
export type Hierarchy =
  /** cgroup2 mounted at `mount`; `controllers`: those the node's root can enable for children. */
  | { kind: "v2"; mount: string; controllers: string[] }
  /** A cgroup v1 hierarchy with the `cpu` controller mounted at `mount`. */
  | { kind: "v1-cpu"; mount: string };

/** One filesystem step of a plan. */
export type CgroupOp =
  | { op: "mkdir"; path: string }
  | { op: "write"; path: string; value: string };

/** What {@link cgroupPlan} decided. */
export interface CgroupPlan {
  /** Steps in order (mkdir: create unless it exists). */
  ops: CgroupOp[];
  /** Directory of each group (where its `cgroup.procs` is). */
  dirs: Record<NodeGroup, string>;
  /** What the hierarchy provides, for the one log line. */
  summary: string;
}

/** v1 `cpu.shares` for a v2 `cpu.weight` (systemd's mapping: 100 ↔ 1024). */
export function sharesFromWeight(weight: number): number {
  return Math.round(weight * 1024 / 100);
}

/** `/metropolis-x/` → `/metropolis-x`, `/` → `` (to append below a mount point). */
function rootSuffix(root: string): string {
  if (!root.startsWith("/")) throw new Error(`cgroup root must be absolute: ${root}`);
  return root.replace(/\/+$/, "");
}

/** The steps that make {@link NODE_GROUPS} below `root` in hierarchy `h`. */
export function cgroupPlan(root: string, h: Hierarchy, groups = NODE_GROUPS): CgroupPlan {
  const base = `${h.mount}${rootSuffix(root)}`;
  const ops: CgroupOp[] = [];
  if (base !== h.mount) ops.push({ op: "mkdir", path: base });
  const dirs = {} as Record<NodeGroup, string>;
  const memory = h.kind === "v2" && h.controllers.includes("memory");
  if (h.kind === "v2") {
    // Children get only what the parent's subtree_control enables.
    const enable = ["cpu", ...(memory ? ["memory"] : [])];
    ops.push({
      op: "write",
      path: `${base}/cgroup.subtree_control`,
      value: enable.map((c) => `+${c}`).join(" "),
    });
  }
  for (const g of groups) {
    const dir = `${base}/${g.name}`;
    dirs[g.name] = dir;
    ops.push({ op: "mkdir", path: dir });
    if (h.kind === "v2") {
      ops.push({ op: "write", path: `${dir}/cpu.weight`, value: String(g.cpuWeight) });
      if (memory && g.memoryLow !== undefined) {
        ops.push({ op: "write", path: `${dir}/memory.low`, value: String(g.memoryLow) });
      }
    } else {
      ops.push({
        op: "write",
        path: `${dir}/cpu.shares`,
        value: String(sharesFromWeight(g.cpuWeight)),
      });
    }
  }
  const summary = h.kind === "v2"
    ? `cgroup v2 at ${base}: cpu.weight${memory ? " and memory.low" : " (no memory controller)"}`
    : `cgroup v1 cpu hierarchy at ${base}: cpu.shares (no memory protection)`;
  return { ops, dirs, summary };
}

/** One line of /proc/self/mounts as far as cgroups matter. */
export interface CgroupMount {
  target: string;
  fstype: string;
  options: string;
}

/**
 * Chooses where the node's groups go: cgroup v2 when it can enable `cpu` below the node's root
 * (`controllersAt(mount)` lists what the root's children can get), else a v1 `cpu` hierarchy,
 * else none (a string: why, for the one log line).
 */
export function chooseHierarchy(
  mounts: CgroupMount[],
  controllersAt: (mount: string) => string[] | undefined,
): Hierarchy | string {
  const v2 = mounts.find((m) => m.fstype === "cgroup2");
  if (v2) {
    const controllers = controllersAt(v2.target) ?? [];
    if (controllers.includes("cpu")) return { kind: "v2", mount: v2.target, controllers };
  }
  const v1 = mounts.find((m) => m.fstype === "cgroup" && m.options.split(",").includes("cpu"));
  if (v1) return { kind: "v1-cpu", mount: v1.target };
  return v2
    ? `the cpu controller is not available to the node's cgroup root in ${v2.target} and there is no cgroup v1 cpu hierarchy`
    : "no cgroup hierarchy is mounted";
}
