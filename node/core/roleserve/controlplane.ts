/**
 * controlplane worker (node.md §13, §11, §12): while this node is a ConsensusMember, runs etcd
 * (bootstrap data, join data from the role, or its own data directory) and the curator; promotes
 * learners every 5 s while this member is the raft leader. The services module is imported only
 * when the role arrives (see controlplane_services.ts).
 */
import type { Context } from "../../base/supervisor/supervisor.ts";
import type { RoleContext } from "./context.ts";
import { roleGated } from "./gated.ts";

/** The controlplane worker. `hostsReady` resolves once /etc/hosts names this node. */
export function controlplane(rc: RoleContext, hostsReady: () => Promise<void>) {
  return roleGated(rc.roles, ["ConsensusMember"], async (ctx: Context) => {
    await hostsReady();
    const { startControlplaneServices } = await import("./controlplane_services.ts");
    await startControlplaneServices(ctx, rc, rc.roles.get()!.consensusMember!);
  });
}
