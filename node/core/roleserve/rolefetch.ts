/**
 * rolefetch (node.md §13): `Curator.Watch(node_in_cluster)` for this node; publishes its roles
 * and persists them to /data/node/roles.pb. Also watches all nodes (`nodes_in_cluster`) for the
 * hostsfile, resolver seeds and the cluster directory.
 */
import { create, equals } from "@bufbuild/protobuf";
import { Curator } from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import type { ServiceClient } from "../../../proto/grpc.ts";
import { NodeRolesSchema } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { type Context, signal } from "../../base/supervisor/supervisor.ts";
import { roleNames } from "../constants/roles.ts";
import { writeRoles } from "../localstorage/credentials.ts";
import { type KnownNode, leaderClient, type RoleContext } from "./context.ts";
import { curatorsOf } from "../rpc/resolver.ts";
import { delay } from "../../base/delay/delay.ts";
import { rewatchDelayMs } from "./rewatch.ts";

/**
 * Runs `watch` with the Curator client of the leader. `established` (given to `watch`) signals
 * Healthy once the first event arrived; a failed or ended watch fails the runnable, and the
 * supervisor restarts it with backoff (the leader may have moved).
 */
function curatorWatch(
  rc: RoleContext,
  what: string,
  watch: (
    c: ServiceClient<typeof Curator.method>,
    ctx: Context,
    established: () => void,
  ) => Promise<void>,
) {
  return async (ctx: Context): Promise<void> => {
    let healthy = false;
    const established = () => {
      if (!healthy) signal(ctx, "healthy");
      healthy = true;
    };
    await watch(await leaderClient(rc, Curator, ctx.signal), ctx, established);
    if (ctx.signal.aborted) return;
    throw new Error(`${what} ended by the leader`);
  };
}

/** Runs the own-node watch. */
export function rolefetch(rc: RoleContext) {
  return curatorWatch(rc, "role watch", async (c, ctx, established) => {
    const s = c.watch(
      { kind: { case: "nodeInCluster", value: { nodeId: rc.enrolled.nodeId } } },
      { signal: ctx.signal },
    );
    for await (const ev of s) {
      established();
      for (const n of ev.nodes) {
        if (n.id !== rc.enrolled.nodeId) continue;
        const roles = n.roles ?? create(NodeRolesSchema, {});
        const cur = rc.roles.get();
        if (!cur || !equals(NodeRolesSchema, cur, roles)) {
          ctx.logger.info(`roles: ${describeRoles(roles) || "none"}`);
          await writeRoles(roles);
          rc.roles.set(roles);
        }
      }
    }
  });
}

/**
 * Runs the all-nodes watch. A node that already holds a node list (it lost the leader's watch,
 * usually in a failover) leaves that list in `rc.nodes` and first waits `rewatchDelay(known nodes)`,
 * so that a new leader does not owe every node its whole backlog at once (rewatch.ts). It is not
 * Healthy while it waits: signalling that would reset the supervisor's backoff on every restart.
 */
export function nodewatch(
  rc: RoleContext,
  rewatchDelay: (known: number) => number = rewatchDelayMs,
) {
  const watch = curatorWatch(rc, "nodes watch", async (c, ctx, established) => {
    const nodes = new Map<string, KnownNode>();
    let backlogDone = false;
    const s = c.watch({ kind: { case: "nodesInCluster", value: {} } }, { signal: ctx.signal });
    for await (const ev of s) {
      for (const n of ev.nodes) {
        nodes.set(n.id, {
          id: n.id,
          address: n.status?.externalAddress || undefined,
          consensusMember: !!n.roles?.consensusMember,
          runningCurator: !!n.status?.runningCurator,
          kubernetesController: !!n.roles?.kubernetesController,
          kubernetesWorker: !!n.roles?.kubernetesWorker,
          labels: Object.fromEntries(
            (n.labels?.pairs ?? []).map((p: { key: string; value: string }) => [p.key, p.value]),
          ),
          clusternet: n.clusternet
            ? {
              wireguardPubkey: n.clusternet.wireguardPubkey,
              prefixes: n.clusternet.prefixes.map((p: { cidr: string }) => p.cidr),
            }
            : undefined,
        });
      }
      rc.resolver.learn(curatorsOf(ev.nodes));
      for (const t of ev.nodeTombstones) nodes.delete(t.nodeId);
      if (ev.progress) {
        backlogDone = true;
        established();
      }
      if (backlogDone) rc.nodes.set(new Map(nodes));
    }
  });
  return async (ctx: Context): Promise<void> => {
    const known = rc.nodes.get()?.size ?? 0;
    const ms = known > 0 ? rewatchDelay(known) : 0;
    if (ms >= 1) {
      ctx.logger.info(
        `keeping ${known} known nodes; watching again in ${(ms / 1000).toFixed(1)} s`,
      );
      await delay(ms, ctx.signal);
      if (ctx.signal.aborted) return;
    }
    await watch(ctx);
  };
}

/** `ConsensusMember,KubernetesController` style role list. */
export function describeRoles(r: Parameters<typeof roleNames>[0]): string {
  return roleNames(r).join(",");
}
