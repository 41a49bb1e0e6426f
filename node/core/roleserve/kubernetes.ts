/**
 * The Kubernetes workers of the roleserver (kubernetes.md §1, DNs `root.role.kubernetes.
 * {controller,worker}.<component>`): each runs exactly while its role is held (see gated.ts).
 * The controller additionally needs the local control plane (etcd + curator of this node: the
 * apiserver stores its objects in that etcd). The Kubernetes code is imported only when a role
 * arrives, so nodes without Kubernetes roles never load it (agent RSS).
 */
import { type Context, run, signal, untilAborted } from "../../base/supervisor/supervisor.ts";
import type { RoleContext } from "./context.ts";
import { roleGated } from "./gated.ts";
import { BIN } from "../../kubernetes/paths.ts";

/** What the platform offers Kubernetes workers (capabilities; see node/kubernetes/deps.ts). */
export interface KubernetesHost {
  cgroupRoot: string;
  wireguard: boolean;
  restrictOomScoreAdj: boolean;
  /** The image carries /kubernetes/bin/kube and the other payloads. */
  kubernetesPayloads: boolean;
}

/** Why a Kubernetes role cannot run on a host like `h`, or undefined (see roleGated). */
export function withoutPayloads(h: Pick<KubernetesHost, "kubernetesPayloads">): string | undefined {
  return h.kubernetesPayloads
    ? undefined
    : `this image carries no Kubernetes payloads (${BIN.kube} missing)`;
}

function identity(rc: RoleContext) {
  const c = rc.enrolled.credentials;
  return {
    nodeId: rc.enrolled.nodeId,
    certificate: c.certificate,
    privateKey: c.keys.privateKey,
    clusterCA: c.caCertificate,
  };
}

/**
 * The `kubernetes` worker: `controller` and `worker`, each gated on its role. `host` gives the
 * platform's offer for this node (its kubelet cgroup root depends on the node ID).
 */
export function kubernetes(rc: RoleContext, host: (nodeId: string) => KubernetesHost) {
  return async (ctx: Context): Promise<void> => {
    run(
      ctx,
      "controller",
      roleGated(
        rc.roles,
        ["ConsensusMember", "KubernetesController"],
        async (c, controlPlane) => {
          const { startController } = await import("../../kubernetes/controller.ts");
          startController(c, {
            identity: identity(rc),
            address: rc.address,
            controlPlane,
            nodes: rc.nodes,
          });
        },
        { what: "the local control plane", value: rc.localControlPlane },
        () => withoutPayloads(host(rc.enrolled.nodeId)),
      ),
    );
    run(
      ctx,
      "worker",
      roleGated(
        rc.roles,
        ["KubernetesWorker"],
        async (c) => {
          const { startWorker } = await import("../../kubernetes/worker.ts");
          await startWorker(c, {
            identity: identity(rc),
            address: rc.address,
            nodes: rc.nodes,
            curator: (service, s) => rc.leaderClients.client(service, s),
            host: host(rc.enrolled.nodeId),
          });
        },
        undefined,
        () => withoutPayloads(host(rc.enrolled.nodeId)),
      ),
    );
    signal(ctx, "healthy");
    await untilAborted(ctx);
  };
}
