/**
 * The KubernetesWorker role (kubernetes.md §1, §6–§9): DN `root.role.kubernetes.worker`, one
 * child per component (`…worker.<component>`):
 *
 * 1. credentials: the worker's keys certified by the curator (a failure fails the worker, and the
 *    supervisor retries with backoff: the curator may be briefly unreachable);
 * 2. `containerd` (then preseed import) → `ready`; `kubelet` waits for it;
 * 3. `apiproxy` (targets: controllers with an address, from the node list), `kube-proxy`, `dns`,
 *    `clusternet`, `nat`, `npc` (NetworkPolicy).
 *
 * Removing the role aborts the worker's context: every child stops, and once containerd, the
 * kubelet and kube-proxy have exited, the `cleanup` child runs {@link cleanupWorker}: it kills
 * what they leave behind (pod processes, shims), releases their mounts and removes the kubelet's
 * cgroups. The role gate restarts only after that child has finished.
 */
import { Value } from "../base/event/value.ts";
import type { LeveledLogger } from "../base/logtree/logger.ts";
import {
  type Context,
  run,
  type Runnable,
  signal,
  untilAborted,
} from "../base/supervisor/supervisor.ts";
import type { KnownNode } from "../core/roleserve/context.ts";
import { apiproxy } from "./apiproxy/apiproxy.ts";
import { KubeClient } from "./client/client.ts";
import { clusternet } from "./clusternet/clusternet.ts";
import { NODE_PATHS } from "./containerd/config.ts";
import { containerd } from "./containerd/containerd.ts";
import type { WorkerDeps } from "./deps.ts";
import { csi } from "./csi/csi.ts";
import { clusterDns } from "./dns/dns.ts";
import { kubeProxy } from "./kube_proxy/kube_proxy.ts";
import { cleanupWorker, ensureCgroupRoot } from "./kubelet/cleanup.ts";
import { kubelet } from "./kubelet/kubelet.ts";
import { podNat } from "./nat/nat.ts";
import { networkPolicyController } from "./npc/npc.ts";
import { APIPROXY_LOCAL, DATA, PORTS } from "./paths.ts";
import { ensureWorkerCredentials } from "./workercerts/workercerts.ts";

/** apiserver endpoints: `<address>:6443` of every controller with an address, sorted. */
export function controllerTargets(nodes: Map<string, KnownNode>): string[] {
  return [...nodes.values()]
    .filter((n) => n.kubernetesController && n.address)
    .map((n) => `${n.address}:${PORTS.apiserver}`)
    .sort();
}

/**
 * Directories below /ephemeral that stand in for paths the kubelet and CNI hard-code below /var
 * (`/var/log/containers`, libcni's result cache `/var/lib/cni`): the node's root is read-only and
 * its `/var` is a symlink to /ephemeral/var.
 */
export const VAR_DIRS = ["/ephemeral/var/log/containers", "/ephemeral/var/lib/cni"];

/** How long stopping waits for the worker's processes before cleaning up anyway. */
const STOP_WAIT_MS = 30_000;

/** Mounts released at stop: the kubelet's volumes and containerd's rootfs, shm and netns. */
const MOUNT_DIRS = [DATA.kubelet, NODE_PATHS.state, NODE_PATHS.root];

/** Keeps `targets` equal to the controllers of `nodes` (set only on change) until `signal`. */
function followControllers(
  nodes: WorkerDeps["nodes"],
  targets: Value<string[]>,
  signal: AbortSignal,
): void {
  (async () => {
    let last: string | undefined;
    for await (const n of nodes.watch({ signal })) {
      const t = controllerTargets(n);
      if (t.join(",") !== last) {
        last = t.join(",");
        targets.set(t);
      }
    }
  })().catch(() => {});
}

/**
 * Starts the worker's components as children of `ctx` and returns (the role gate of
 * node/core/roleserve signals Healthy then). Throws when the credentials cannot be obtained.
 * The child `cleanup` waits for the role to go, then for the processes to exit, and cleans up.
 */
export async function startWorker(ctx: Context, deps: WorkerDeps): Promise<void> {
  const host = deps.host;
  const cleanup = async (log: LeveledLogger, when: string) => {
    const problems = await cleanupWorker({
      cgroupRoot: host.cgroupRoot,
      containerdSocket: NODE_PATHS.socket,
      mountDirs: MOUNT_DIRS,
      log: (l) => log.info(`${when}: ${l}`),
    });
    for (const p of problems) log.warning(`${when}: ${p}`);
  };
  // A previous instance that died with the agent may have left pods and cgroups behind.
  await cleanup(ctx.logger, "before start");
  const creds = await ensureWorkerCredentials(deps, ctx.signal);
  await ensureCgroupRoot(host.cgroupRoot);
  for (const d of VAR_DIRS) await Deno.mkdir(d, { recursive: true, mode: 0o755 });

  const net = new KubeClient({
    server: APIPROXY_LOCAL,
    caPem: creds.idCaPem,
    certPem: creds.netservices.certPem,
    keyPem: creds.netservices.keyPem,
  });
  const csiClient = new KubeClient({
    server: APIPROXY_LOCAL,
    caPem: creds.idCaPem,
    certPem: creds.csi.certPem,
    keyPem: creds.csi.keyPem,
  });
  // Children that run processes: the cleanup waits until none of them runs any more.
  const running = new Value<number>(0);
  const tracked = (r: Runnable): Runnable => async (c) => {
    running.set(running.get()! + 1);
    try {
      await r(c);
    } finally {
      running.set(running.get()! - 1);
    }
  };
  const targets = new Value<string[]>();
  followControllers(deps.nodes, targets, ctx.signal);
  const containerdReady = new Value<boolean>(false);
  run(
    ctx,
    "containerd",
    tracked(containerd({ ready: containerdReady, restrictOomScoreAdj: host.restrictOomScoreAdj })),
  );
  run(ctx, "apiproxy", apiproxy({ targets }));
  run(
    ctx,
    "kubelet",
    tracked(kubelet({
      nodeId: deps.identity.nodeId,
      cgroupRoot: host.cgroupRoot,
      files: {
        ca: creds.files.kubelet.ca,
        serverCert: creds.files.kubelet.serverCert,
        serverKey: creds.files.kubelet.key,
        kubeconfig: creds.files.kubelet.kubeconfig,
      },
      address: deps.address,
      containerdReady,
    })),
  );
  run(
    ctx,
    "kube-proxy",
    tracked(kubeProxy({
      nodeId: deps.identity.nodeId,
      kubeconfig: creds.files.netservices.kubeconfig,
      address: deps.address,
    })),
  );
  run(ctx, "dns", clusterDns({ client: net }));
  run(
    ctx,
    "clusternet",
    clusternet({
      nodeId: deps.identity.nodeId,
      address: deps.address,
      nodes: deps.nodes,
      client: net,
      curator: deps.curator,
      wireguard: host.wireguard,
    }),
  );
  run(ctx, "nat", podNat());
  run(ctx, "csi", csi({ nodeId: deps.identity.nodeId, client: csiClient }));
  run(ctx, "npc", networkPolicyController({ client: net, nodeName: deps.identity.nodeId }));
  run(ctx, "cleanup", async (c) => {
    signal(c, "healthy");
    await untilAborted(c);
    // Siblings are being stopped at the same time; clean up once their processes are gone.
    await running.waitFor((n) => n === 0, AbortSignal.timeout(STOP_WAIT_MS)).catch(() => {
      c.logger.warning(`worker processes still running after ${STOP_WAIT_MS} ms`);
    });
    await cleanup(c.logger, "after stop");
    net.close();
    csiClient.close();
  });
}

/** The KubernetesWorker role as one runnable (see the module comment and {@link startWorker}). */
export function kubernetesWorker(deps: WorkerDeps): Runnable {
  return async (ctx) => {
    await startWorker(ctx, deps);
    signal(ctx, "healthy");
    await untilAborted(ctx);
  };
}
