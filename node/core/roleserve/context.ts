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
import type { Enrolled } from "../cluster/enrolment.ts";
import { connectionParams } from "../rpc/client.ts";
import type { LeaderResolver } from "../rpc/resolver.ts";

/** A node known from `Curator.Watch(nodes_in_cluster)`. */
export interface KnownNode {
  id: string;
  address?: string;
  consensusMember: boolean;
  runningCurator: boolean;
}

/** Shared state of the roleserver. */
export interface RoleContext {
  enrolled: Enrolled;
  tree: LogTree;
  platform: "vm" | "namespace";
  /** Current roles (from /data/node/roles.pb, then from the curator). */
  roles: Value<NodeRoles | undefined>;
  /** The node's external address. */
  address: Value<string | undefined>;
  /** Whether this node's curator is running (statuspush reports it). */
  curatorRunning: Value<boolean>;
  /** All nodes of the cluster with their addresses (hostsfile, resolver seeds). */
  nodes: Value<Map<string, KnownNode>>;
  resolver: LeaderResolver;
  /** Power action (reboot/poweroff), injected by the agent. */
  power: (kind: "reboot" | "poweroff") => Promise<void>;
}

/** A client of `service` on the current leader, authenticated as this node. */
export async function leaderClient<S extends GenServiceMethods>(
  rc: RoleContext,
  service: GenService<S>,
  signal: AbortSignal,
): Promise<ServiceClient<S>> {
  const leader = await rc.resolver.leader(signal);
  const p = await connectionParams(leader.address, {
    ca: rc.enrolled.credentials.caCertificate,
    nodeId: leader.nodeId,
    identity: {
      certificate: rc.enrolled.credentials.certificate,
      privateKey: rc.enrolled.credentials.keys.privateKey,
    },
  });
  return makeClient(service, p.address, p.credentials, p.options as grpc.ClientOptions);
}

/** Sleeps `ms` or until `signal` aborts (then resolves early). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
