/**
 * What the platform offers the Kubernetes roles (node/kubernetes/deps.ts `WorkerHost`:
 * capabilities, never a platform name). Declared structurally here because node/core must not
 * import node/kubernetes.
 */
import { KUBE_BINARY } from "../constants/payloads.ts";

/** Same shape as node/kubernetes/deps.ts `WorkerHost`, plus the payload capability. */
export interface PlatformWorkerHost {
  /**
   * The node's cgroup root: its own groups (node/core/cgroups) and the kubelet's `kubepods` are
   * created below it.
   */
  cgroupRoot: string;
  wireguard: boolean;
  restrictOomScoreAdj: boolean;
  /**
   * The image carries the Kubernetes payloads (the `core` image does not): without them the
   * Kubernetes roles are held but nothing is started.
   */
  kubernetesPayloads: boolean;
}

/** True if the Kubernetes multicall binary of the payload layout exists. */
export function kubernetesPayloadsPresent(kube: string = KUBE_BINARY): boolean {
  try {
    return Deno.statSync(kube).isFile;
  } catch {
    return false;
  }
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

/** What decides a worker's host. */
export interface WorkerHostOptions {
  /**
   * The node shares its cgroup hierarchies with others (a namespace node shares the host's): its
   * kubelet gets its own root, `/metropolis-<node ID>`, so nodes never collide. Else `/`.
   */
  sharedCgroups: boolean;
  /** The kernel has WireGuard (else clusternet runs in direct mode). */
  wireguard: boolean;
}

/**
 * The worker's host of node `nodeId` on a platform described by `o` (Platform.workerHost);
 * `payloads` checks the payload capability (tests pass a fixed answer).
 */
export function workerHost(
  o: WorkerHostOptions,
  nodeId: string,
  status?: string,
  payloads: () => boolean = kubernetesPayloadsPresent,
): PlatformWorkerHost {
  if (!/^[A-Za-z0-9-]+$/.test(nodeId)) throw new Error(`workerHost: bad node ID ${nodeId}`);
  return {
    cgroupRoot: o.sharedCgroups ? `/metropolis-${nodeId}` : "/",
    wireguard: o.wireguard,
    // Without CAP_SYS_RESOURCE in the bounding set (namespace nodes under a restricted launcher),
    // runc cannot lower oom_score_adj for the kubelet's pod sandboxes.
    restrictOomScoreAdj: !hasSysResource(status),
    kubernetesPayloads: payloads(),
  };
}
