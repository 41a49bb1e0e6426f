/**
 * controlplane worker (node.md §13, §11, §12): while this node is a ConsensusMember, runs etcd
 * (bootstrap data, join data from the role, or its own data directory) and the curator; promotes
 * learners every 5 s while this member is the raft leader.
 */
import { Etcd3 } from "etcd3";
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
import { CuratorServer } from "../curator/server.ts";
import { DATA_PATHS, EPHEMERAL_PATHS } from "../localstorage/paths.ts";
import { type RoleContext, sleep } from "./context.ts";

/** The controlplane worker. `hostsReady` resolves once /etc/hosts names this node. */
export function controlplane(rc: RoleContext, hostsReady: () => Promise<void>) {
  return async (ctx: Context): Promise<void> => {
    const roles = await rc.roles.waitFor((r) => !!r?.consensusMember, ctx.signal);
    await hostsReady();
    const cm = roles!.consensusMember!;
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
      run(c, "etcd", (e) => runEtcd(e, o, mode));
      run(c, "promoter", promoter(o));
      signal(c, "healthy");
      await new Promise<void>((r) => c.signal.addEventListener("abort", () => r(), { once: true }));
    });
    run(ctx, "curator", curator(rc, o));
    signal(ctx, "healthy");
    await rc.roles.waitFor((r) => !r?.consensusMember, ctx.signal);
    throw new Error("ConsensusMember role removed: stopping etcd and curator");
  };
}

function promoter(o: EtcdOptions) {
  return async (ctx: Context): Promise<void> => {
    await waitReady(o.socketDir, ctx.signal);
    const client = new Etcd3({ hosts: clientEndpoint(o.socketDir) });
    const m = new EtcdMembership(client, new KV(client));
    signal(ctx, "healthy");
    try {
      while (!ctx.signal.aborted) {
        try {
          const st = await client.maintenance.status();
          if (String(st.leader) === String(st.header.member_id)) {
            const promoted = await m.promoteLearners();
            for (const p of promoted) ctx.logger.info(`promoted etcd learner ${p}`);
          }
        } catch (e) {
          ctx.logger.warning(`learner promotion: ${(e as Error).message}`);
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
    const client = new Etcd3({ hosts: clientEndpoint(o.socketDir) });
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
    signal(ctx, "healthy");
    try {
      await running;
    } finally {
      rc.curatorRunning.set(false);
      client.close();
    }
  };
}
