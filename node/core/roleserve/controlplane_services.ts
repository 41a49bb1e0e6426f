/**
 * The controlplane services (node.md §11, §12): etcd, the raft leader's chores (learner promotion,
 * keeping raft leadership off the curator leader's node) and the curator.
 * Loaded by {@link ./controlplane.ts} only once this node holds the ConsensusMember role, so
 * nodes without it never load etcd3, the curator or CEL (agent RSS, testing.md §5 `rss`).
 */
import { etcdClient } from "../consensus/client.ts";
import type { NodeRoles_ConsensusMember } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { type Context, run, signal } from "../../base/supervisor/supervisor.ts";
import {
  clientEndpoint,
  type EtcdOptions,
  hasData,
  runEtcd,
  waitReady,
} from "../consensus/etcd.ts";
import { KV } from "../consensus/kv.ts";
import { EtcdMembership } from "../consensus/membership.ts";
import { raftHandoverTarget } from "../consensus/raftleader.ts";
import { CuratorServer } from "../curator/server.ts";
import { DATA_PATHS, EPHEMERAL_PATHS } from "../localstorage/paths.ts";
import { type RoleContext, sleep } from "./context.ts";

/**
 * Starts etcd (from its data, or joining per `cm`), the promoter and the curator as children of
 * `ctx` (which must still be NEW).
 */
export async function startControlplaneServices(
  ctx: Context,
  rc: RoleContext,
  cm: NodeRoles_ConsensusMember,
): Promise<void> {
  const o: EtcdOptions = {
    nodeId: rc.enrolled.nodeId,
    nodeKeys: rc.enrolled.credentials.keys,
    dataDir: DATA_PATHS.etcd,
    socketDir: EPHEMERAL_PATHS.consensus,
  };
  const mode = (await hasData(o)) ? { restart: true as const } : { join: cm };
  ctx.logger.info(
    "restart" in mode ? "starting etcd from its data" : "joining etcd as a new member",
  );
  run(ctx, "consensus", async (c) => {
    // The curator resigns its leadership through this etcd when the node stops (reboot, update,
    // shutdown): etcd outlives it, so that the next leader takes over at once instead of after
    // the lease runs out.
    run(c, "etcd", (e) => runEtcd(e, o, mode, () => curatorStopped(rc)));
    run(
      c,
      "promoter",
      promoter(o, () => rc.resolver.current()?.nodeId === rc.enrolled.nodeId),
    );
    signal(c, "healthy");
    await new Promise<void>((r) => c.signal.addEventListener("abort", () => r(), { once: true }));
  });
  run(ctx, "curator", curator(rc, o));
}

/** How long a stopping etcd waits for the curator to resign (one lease revoke, normally ms). */
export const CURATOR_RESIGN_WAIT_MS = 3000;

/** Resolves once the local curator has stopped (at once if none runs), or after the bound. */
function curatorStopped(rc: RoleContext): Promise<void> {
  return rc.curatorRunning.waitFor(
    (running) => !running,
    AbortSignal.timeout(CURATOR_RESIGN_WAIT_MS),
  )
    .then(() => {}, () => {
      throw new Error(`the curator did not stop within ${CURATOR_RESIGN_WAIT_MS} ms`);
    });
}

/**
 * The raft leader's chores, every 5 s: promoting learners, and handing raft leadership away when
 * this node's curator leads too (`curatorLeadsHere`; see consensus/raftleader.ts).
 */
function promoter(o: EtcdOptions, curatorLeadsHere: () => boolean) {
  return async (ctx: Context): Promise<void> => {
    await waitReady(o.socketDir, ctx.signal);
    const client = etcdClient(clientEndpoint(o.socketDir));
    const m = new EtcdMembership(client, new KV(client));
    signal(ctx, "healthy");
    try {
      while (!ctx.signal.aborted) {
        try {
          const st = await client.maintenance.status();
          const self = String(st.header.member_id);
          if (String(st.leader) === self) {
            const promoted = await m.promoteLearners();
            for (const p of promoted) ctx.logger.info(`promoted etcd learner ${p}`);
            const to = raftHandoverTarget({
              raftLeader: String(st.leader),
              self,
              curatorLeadsHere: curatorLeadsHere(),
              members: await m.members(),
            });
            if (to) {
              await m.moveRaftLeader(to.id);
              ctx.logger.info(`handed etcd raft leadership to ${to.name} (the curator leads here)`);
            }
          }
        } catch (e) {
          ctx.logger.warning(`raft leader chores: ${(e as Error).message}`);
        }
        await sleep(5000, ctx.signal);
      }
    } finally {
      client.close();
    }
  };
}

function curator(rc: RoleContext, o: EtcdOptions) {
  return async (ctx: Context): Promise<void> => {
    await waitReady(o.socketDir, ctx.signal);
    const client = etcdClient(clientEndpoint(o.socketDir));
    const root = new KV(client);
    const server = new CuratorServer({
      kv: root,
      nodeId: rc.enrolled.nodeId,
      certificate: rc.enrolled.credentials.certificate,
      privateKey: rc.enrolled.credentials.keys.privateKey,
      consensus: new EtcdMembership(client, root),
      externalAddress: () => rc.address.get() ?? "",
      log: (l) => ctx.logger.info(l),
    });
    const running = server.run(ctx.signal);
    await server.listening;
    rc.curatorRunning.set(true);
    // This node's resolver may be backing off after failing against the not yet running local
    // curator (the bootstrap node's only seed): try again now instead of after the backoff.
    rc.resolver.retryNow();
    rc.localControlPlane.set({ kv: root, socketDir: o.socketDir });
    signal(ctx, "healthy");
    try {
      await running;
    } finally {
      rc.localControlPlane.set(undefined);
      rc.curatorRunning.set(false);
      client.close();
    }
  };
}
