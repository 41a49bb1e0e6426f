/**
 * What the Kubernetes roles get from the node, as explicit dependencies (no grab-bag context).
 * The roleserver (node/core/roleserve/kubernetes.ts) builds these and starts
 * {@link ./controller.ts} / {@link ./worker.ts} exactly while the role is held.
 */
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { ServiceClient } from "../../proto/grpc.ts";
import type { Value } from "../base/event/value.ts";
import type { KnownNode, LocalControlPlane } from "../core/roleserve/context.ts";

/** The node's cluster identity (DER certificates, Ed25519 private key). */
export interface NodeIdentity {
  nodeId: string;
  certificate: Uint8Array;
  privateKey: CryptoKey;
  /** The cluster CA (DER). */
  clusterCA: Uint8Array;
}

/** Dependencies of the KubernetesController role. */
export interface ControllerDeps {
  identity: NodeIdentity;
  /** The node's external address (apiserver `--advertise-address`). */
  address: Value<string | undefined>;
  /** The local etcd (root KV for the Kubernetes PKI, socket for the apiserver). */
  controlPlane: LocalControlPlane;
  /** All nodes of the cluster (labelmaker: roles and labels). */
  nodes: Value<Map<string, KnownNode>>;
}

/** What the platform offers workers (capabilities, never a platform name). */
export interface WorkerHost {
  /**
   * The kubelet's cgroup root: `/` on a node that owns the machine; `/metropolis-<node ID>` on a
   * namespace node sharing the host's cgroup hierarchy.
   */
  cgroupRoot: string;
  /** Whether a WireGuard link can be created (clusternet chooses WireGuard or direct mode). */
  wireguard: boolean;
  /** containerd must not lower OOM scores (no CAP_SYS_RESOURCE in the bounding set). */
  restrictOomScoreAdj: boolean;
}

/** A curator client on the current leader (shared, long-lived; never close it). */
export type CuratorClient = <S extends GenServiceMethods>(
  service: GenService<S>,
  signal: AbortSignal,
) => Promise<ServiceClient<S>>;

/** Dependencies of the KubernetesWorker role. */
export interface WorkerDeps {
  identity: NodeIdentity;
  address: Value<string | undefined>;
  /** All nodes (apiproxy targets: controllers with addresses; clusternet peers). */
  nodes: Value<Map<string, KnownNode>>;
  curator: CuratorClient;
  host: WorkerHost;
}
