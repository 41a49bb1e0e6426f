/**
 * Host-global state that Kubernetes workers on namespace nodes change and the launcher must put
 * back: sysctls the kubelet sets at start (not namespaced), and the nodes' cgroup roots in the
 * host's shared cgroup hierarchies (`metropolis-<node ID>`: the node's groups and the kubelet's
 * pods, see node/core/cgroups). Processes inside die with their node's PID namespace; the empty cgroup
 * directories stay until removed here (with the worker's own cgroup cleanup).
 */
import {
  cgroupMountPoints,
  parseMounts,
  removeCgroupTree,
} from "../../node/kubernetes/kubelet/cleanup.ts";

/**
 * Host-global sysctls the kubelet sets at start (setupKernelTunables); saved when a cluster is
 * created and restored at teardown.
 */
export const KUBELET_SYSCTLS = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
];

/** Reads the current values of {@link KUBELET_SYSCTLS}. */
export async function saveSysctls(): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const k of KUBELET_SYSCTLS) m.set(k, await Deno.readTextFile(`/proc/sys/${k}`));
  return m;
}

/** Writes saved values back. */
export async function restoreSysctls(saved: Map<string, string>): Promise<void> {
  for (const [k, v] of saved) await Deno.writeTextFile(`/proc/sys/${k}`, v);
}

/**
 * Removes the cgroup directory `name` (one path component) from every host hierarchy, retrying
 * while the last processes of a killed PID namespace leave it (up to ≈ 5 s per group).
 */
export async function removeCgroupEverywhere(name: string): Promise<void> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`bad cgroup name ${JSON.stringify(name)}`);
  const mounts = cgroupMountPoints(parseMounts(await Deno.readTextFile("/proc/mounts")));
  for (const m of mounts) {
    const problems = await removeCgroupTree(`${m}/${name}`);
    if (problems.length) throw new Error(`cannot ${problems[0]}`);
  }
}
