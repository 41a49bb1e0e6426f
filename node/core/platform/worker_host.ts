/**
 * What the platform offers the KubernetesWorker role (node/kubernetes/deps.ts `WorkerHost`:
 * capabilities, never a platform name). Declared structurally here because node/core must not
 * import node/kubernetes.
 */
import type { AgentFlags } from "./flags.ts";

/** Same shape as node/kubernetes/deps.ts `WorkerHost`. */
export interface PlatformWorkerHost {
  cgroupRoot: string;
  wireguard: boolean;
  restrictOomScoreAdj: boolean;
}

/** CAP_SYS_RESOURCE's bit in the capability sets. */
const CAP_SYS_RESOURCE = 24n;

/** True if the `CapBnd` line of a /proc/<pid>/status text has capability `bit`. */
export function hasBoundingCapability(status: string, bit: bigint): boolean {
  const m = status.match(/^CapBnd:\s*([0-9a-f]+)$/m);
  if (!m) throw new Error("/proc/self/status has no CapBnd line");
  return ((BigInt("0x" + m[1]) >> bit) & 1n) === 1n;
}

/** True if this process's capability bounding set includes CAP_SYS_RESOURCE. */
export function hasSysResource(status = Deno.readTextFileSync("/proc/self/status")): boolean {
  return hasBoundingCapability(status, CAP_SYS_RESOURCE);
}

/**
 * The worker's host for this platform. A namespace node shares the host's cgroup hierarchies
 * (its kubelet gets its own root, `/metropolis-<node ID>`, so nodes never collide) and the host's
 * kernel, which has no WireGuard (clusternet runs in direct mode). A VM owns its machine.
 */
export function workerHost(
  flags: Pick<AgentFlags, "platform">,
  nodeId: string,
  status?: string,
): PlatformWorkerHost {
  if (!/^[A-Za-z0-9-]+$/.test(nodeId)) throw new Error(`workerHost: bad node ID ${nodeId}`);
  const ns = flags.platform === "namespace";
  return {
    cgroupRoot: ns ? `/metropolis-${nodeId}` : "/",
    wireguard: !ns,
    // Without CAP_SYS_RESOURCE in the bounding set (namespace nodes under a restricted launcher),
    // runc cannot lower oom_score_adj for the kubelet's pod sandboxes.
    restrictOomScoreAdj: !hasSysResource(status),
  };
}
