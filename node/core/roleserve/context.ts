/**
 * What every role worker shares (node.md §13): the node's credentials, its observable roles and
 * address, the leader resolver, and helpers to dial the curator leader as this node.
 */
import type * as grpc from "@grpc/grpc-js";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { NodeRoles } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { makeClient, type ServiceClient } from "../../../proto/grpc.ts";
import type { Value } from "../../base/event/value.ts";
import type { LogTree } from "../../base/logtree/logtree.ts";
import type { KV } from "../consensus/kv.ts";
import type { Enrolled } from "../cluster/enrolment.ts";
import { connectionParams } from "../rpc/client.ts";
import type { LeaderResolver } from "../rpc/resolver.ts";

/** A node known from `Curator.Watch(nodes_in_cluster)`. */
export interface KnownNode {
  id: string;
  address?: string;
  consensusMember: boolean;
  runningCurator: boolean;
  /** Holds KubernetesController (apiproxy targets, authproxy endpoints). */
  kubernetesController?: boolean;
  /** Holds KubernetesWorker. */
  kubernetesWorker?: boolean;
  /** Metropolis node labels (labelmaker). */
  labels?: Record<string, string>;
  /** Published cluster networking (clusternet peers): WireGuard key and prefixes (CIDR). */
  clusternet?: { wireguardPubkey: string; prefixes: string[] };
}

/** What a ConsensusMember offers other workers of the same node. */
export interface LocalControlPlane {
  /** Root KV of the local etcd. */
  kv: KV;
  /** Directory of the etcd client socket (`client.sock:0` inside). */
  socketDir: string;
}

/** Shared state of the roleserver. */
export interface RoleContext {
  enrolled: Enrolled;
  tree: LogTree;
  /** Current roles (from /data/node/roles.pb, then from the curator). */
  roles: Value<NodeRoles | undefined>;
  /** The node's external address. */
  address: Value<string | undefined>;
  /** Whether this node's curator is running (statuspush reports it). */
  curatorRunning: Value<boolean>;
  /** All nodes of the cluster with their addresses (hostsfile, resolver seeds). */
  nodes: Value<Map<string, KnownNode>>;
  resolver: LeaderResolver;
  /** Long-lived clients of the curator leader (see {@link leaderClient}). */
  leaderClients: LeaderClients;
  /**
   * The local control plane while this node is a ConsensusMember and its curator runs: the etcd
   * root KV and the etcd socket directory (Kubernetes controllers run the apiserver on it).
   */
  localControlPlane: Value<LocalControlPlane | undefined>;
  /** Power action (reboot/poweroff), injected by the agent. */
  power: (kind: "reboot" | "poweroff") => Promise<void>;
}

/**
 * Clients of the curator leader, one long-lived channel per (leader, service): callers share it
 * instead of opening a TLS channel per call. When the resolver reports another leader (or none),
 * the cached clients are closed, and the next call dials the new leader. Callers never close
 * the clients they get.
 */
export class LeaderClients {
  readonly #resolver: LeaderResolver;
  readonly #credentials: Enrolled["credentials"];
  #leaderKey = "";
  #clients = new Map<GenService<GenServiceMethods>, Promise<unknown>>();

  constructor(resolver: LeaderResolver, credentials: Enrolled["credentials"]) {
    this.#resolver = resolver;
    this.#credentials = credentials;
    resolver.onChange(() => this.#reset());
  }

  /** The shared client of `service` on the current leader (waits for a leader). */
  async client<S extends GenServiceMethods>(
    service: GenService<S>,
    signal: AbortSignal,
  ): Promise<ServiceClient<S>> {
    const leader = await this.#resolver.leader(signal);
    const key = `${leader.nodeId}@${leader.address}`;
    if (key !== this.#leaderKey) {
      this.#reset();
      this.#leaderKey = key;
    }
    const k = service as unknown as GenService<GenServiceMethods>;
    let c = this.#clients.get(k);
    if (!c) {
      c = (async () => {
        const p = await connectionParams(leader.address, {
          ca: this.#credentials.caCertificate,
          nodeId: leader.nodeId,
          identity: {
            certificate: this.#credentials.certificate,
            privateKey: this.#credentials.keys.privateKey,
          },
        });
        return makeClient(service, p.address, p.credentials, p.options as grpc.ClientOptions);
      })();
      c.catch(() => this.#clients.delete(k));
      this.#clients.set(k, c);
    }
    return await c as ServiceClient<S>;
  }

  /** Closes every cached client (leader changed, or shutting down). */
  #reset(): void {
    const old = [...this.#clients.values()];
    this.#clients.clear();
    this.#leaderKey = "";
    for (const c of old) c.then((x) => (x as { close(): void }).close(), () => {});
  }

  /** Closes every client; later calls dial again. */
  close(): void {
    this.#reset();
  }
}

/** The shared client of `service` on the current leader, authenticated as this node. */
export function leaderClient<S extends GenServiceMethods>(
  rc: RoleContext,
  service: GenService<S>,
  signal: AbortSignal,
): Promise<ServiceClient<S>> {
  return rc.leaderClients.client(service, signal);
}

export { delay as sleep } from "../../base/delay/delay.ts";
