/**
 * The roleserver (node.md §13, DN `root.role`): once enrolment produced credentials, starts the
 * role workers. Workers for every node with credentials run always; role-specific workers
 * (controlplane) start and stop themselves as the roles change.
 */
import type { NodeRoles } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { Value } from "../../base/event/value.ts";
import type { LogTree } from "../../base/logtree/logtree.ts";
import { type Context, run, signal, untilAborted } from "../../base/supervisor/supervisor.ts";
import type { Enrolled } from "../cluster/enrolment.ts";
import { readRoles, writeRoles } from "../localstorage/credentials.ts";
import { setupNodeCgroups } from "../cgroups/node_cgroups.ts";
import { LeaderResolver } from "../rpc/resolver.ts";
import {
  type KnownNode,
  LeaderClients,
  type LocalControlPlane,
  type RoleContext,
} from "./context.ts";
import { controlplane } from "./controlplane.ts";
import { kubernetes, type KubernetesHost } from "./kubernetes.ts";
import { heartbeat, statuspush } from "./heartbeat.ts";
import { hostsfile } from "./hostsfile.ts";
import { nodewatch, rolefetch } from "./rolefetch.ts";
import { pageout } from "./pageout.ts";
import { runLeaderWorkers } from "./leader_workers.ts";
import { pageOutRuntime } from "../../base/sys/pageout.ts";

/** Options of the roleserver. */
export interface RoleserverOptions {
  tree: LogTree;
  enrolled: Value<Enrolled>;
  address: Value<string | undefined>;
  power: (kind: "reboot" | "poweroff") => Promise<void>;
  version: { major: bigint; minor: bigint; patch: bigint };
  /** What the platform offers the Kubernetes roles; without it, no Kubernetes worker runs. */
  kubernetes?: (nodeId: string) => KubernetesHost;
  /**
   * The node's cgroup root (Platform.workerHost(id).cgroupRoot): its groups are made there before
   * etcd or Kubernetes start (node/core/cgroups); without it, everything stays in the agent's.
   */
  cgroupRoot?: (nodeId: string) => string;
  /** Extra workers per role context (node management, metrics), started with the others. */
  extraWorkers?: (rc: RoleContext) => Record<string, (ctx: Context) => Promise<void>>;
}

/** The roleserver runnable. */
export function roleserver(o: RoleserverOptions) {
  return async (ctx: Context): Promise<void> => {
    const enrolled = await o.enrolled.waitFor(() => true, ctx.signal);
    const creds = enrolled.credentials;
    // Before any child starts: etcd and the Kubernetes processes are placed as they spawn.
    if (o.cgroupRoot) {
      setupNodeCgroups(o.cgroupRoot(enrolled.nodeId), (l) => ctx.logger.info(l));
    }
    // Seeds as the nodes they are: the stream the resolver follows on one and this node's leader
    // clients then share a connection when that node leads (rpc/client.ts).
    const seeds = enrolled.directory.nodes.flatMap((n) =>
      n.addresses.filter((a) => a.host).map((a) => n.id ? { nodeId: n.id, seed: a.host } : a.host)
    );
    const resolver = new LeaderResolver({
      seeds: seeds.length ? seeds : ["127.0.0.1"],
      ca: creds.caCertificate,
      identity: { certificate: creds.certificate, privateKey: creds.keys.privateKey },
      // The nodewatch worker feeds it the curators it sees (one nodes watch per node, not two).
      watchNodes: false,
      log: (l) => ctx.logger.info(`resolver: ${l}`),
    });
    resolver.start();
    ctx.signal.addEventListener("abort", () => void resolver.close(), { once: true });
    const roles = new Value<NodeRoles | undefined>();
    const persisted = await readRoles();
    if (persisted) roles.set(persisted);
    else if (enrolled.how === "bootstrap") {
      ctx.logger.info("bootstrap node: waiting for roles from the local curator");
    }
    const rc: RoleContext = {
      enrolled,
      tree: o.tree,
      roles,
      address: o.address,
      curatorRunning: new Value(false),
      nodes: new Value<Map<string, KnownNode>>(new Map()),
      resolver,
      leaderClients: new LeaderClients(resolver, creds),
      localControlPlane: new Value<LocalControlPlane | undefined>(undefined),
      power: o.power,
    };
    ctx.signal.addEventListener("abort", () => rc.leaderClients.close(), { once: true });
    let hostsReadyResolve!: () => void;
    const hostsReady = new Promise<void>((r) => hostsReadyResolve = r);
    run(ctx, "hostsfile", hostsfile(rc, () => hostsReadyResolve()));
    run(ctx, "controlplane", controlplane(rc, () => hostsReady));
    runLeaderWorkers(ctx, resolver, {
      rolefetch: rolefetch(rc),
      nodewatch: nodewatch(rc),
      heartbeat: heartbeat(rc.leaderClients),
      statuspush: statuspush(rc, o.version),
    });
    if (o.kubernetes) run(ctx, "kubernetes", kubernetes(rc, o.kubernetes));
    run(ctx, "pageout", pageout({ roles, pageOut: pageOutRuntime }));
    for (const [name, w] of Object.entries(o.extraWorkers?.(rc) ?? {})) run(ctx, name, w);
    signal(ctx, "healthy");
    await untilAborted(ctx);
  };
}

export { writeRoles };
