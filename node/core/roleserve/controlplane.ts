/**
 * controlplane worker (node.md §13, §11, §12): while this node is a ConsensusMember, runs etcd
 * (bootstrap data, join data from the role, or its own data directory) and the curator; promotes
 * learners every 5 s while this member is the raft leader. The services module is imported only
 * when the role arrives (see controlplane_services.ts).
 */
import { type Context, signal } from "../../base/supervisor/supervisor.ts";
import type { RoleContext } from "./context.ts";

/** The controlplane worker. `hostsReady` resolves once /etc/hosts names this node. */
export function controlplane(rc: RoleContext, hostsReady: () => Promise<void>) {
  return async (ctx: Context): Promise<void> => {
    const roles = await rc.roles.waitFor((r) => !!r?.consensusMember, ctx.signal);
    await hostsReady();
    const { startControlplaneServices } = await import("./controlplane_services.ts");
    await startControlplaneServices(ctx, rc, roles!.consensusMember!);
    signal(ctx, "healthy");
    await rc.roles.waitFor((r) => !r?.consensusMember, ctx.signal);
    throw new Error("ConsensusMember role removed: stopping etcd and curator");
  };
}
