/**
 * The agent's cluster-facing root (node.md §2 step 5): starts `network`, `role` (roleserver) and
 * `enrolment` under the root runnable, wiring enrolment's result into the roleserver.
 */
import { PORTS } from "./constants/ports.ts";
import { parseVersion, runningVersion } from "../base/osimage/version.ts";
import { Value } from "../base/event/value.ts";
import type { LogTree } from "../base/logtree/logtree.ts";
import { type Context, run, signal, untilAborted } from "../base/supervisor/supervisor.ts";
import type { PowerAction } from "../base/pid1/power.ts";
import { nodeUpdate } from "./update/node.ts";
import type { Enrolled } from "./cluster/enrolment.ts";
import { enrolmentRunnable } from "./cluster/runnable.ts";
import { networkService, waitForAddress } from "./network/service.ts";
import { roleserver } from "./roleserve/roleserver.ts";
import { runNodeManagement } from "./mgmt/server.ts";
import { runMetrics } from "./metrics/server.ts";
import { runNodeExporter } from "./metrics/node_exporter.ts";
import type { RoleContext } from "./roleserve/context.ts";
import type { Tpm } from "../base/tpm/mod.ts";
import { type Platform, storageSecurities } from "./platform/platform.ts";

/**
 * The node software version reported in status: the running image's (`/etc/product-info.json`),
 * else the OS-image contract's version.
 */
export const VERSION = { ...parseVersion(runningVersion()) };

/** Options of {@link startCore}. */
export interface CoreOptions {
  /** What the machine offers (node.md §3): capabilities, data storage, power, worker host. */
  platform: Pick<Platform, "capabilities" | "data" | "power" | "workerHost" | "esp" | "slots">;
  tree: LogTree;
  power: (kind: PowerAction) => Promise<void>;
  /** The node's TPM, opened by the root runnable (node.md §2 step 5); undefined: none. */
  tpm?: Tpm;
  /** Extra roleserver workers (node management, metrics). */
  extraWorkers?: (rc: RoleContext) => Record<string, (ctx: Context) => Promise<void>>;
}

/** Adds the core runnables as children of the root runnable `ctx` (call while it is NEW). */
export function startCore(ctx: Context, o: CoreOptions): void {
  const address = new Value<string | undefined>();
  // A/B updates (node.md §16) where the platform has slots; else UpdateNode is UNIMPLEMENTED.
  const update = nodeUpdate(o.platform, o.tree.logger("root.update"));
  const enrolled = new Value<Enrolled>();
  run(ctx, "network", networkService({ address }));
  run(
    ctx,
    "role",
    roleserver({
      tree: o.tree,
      enrolled,
      address,
      power: o.power,
      version: VERSION,
      kubernetes: (nodeId) => o.platform.workerHost(nodeId),
      cgroupRoot: (nodeId) => o.platform.workerHost(nodeId).cgroupRoot,
      extraWorkers: (rc) => ({
        // NodeManagement on 7839 (node.md §14) for every node with credentials.
        nodemgmt: (c: Context) =>
          runNodeManagement(c, {
            tree: o.tree,
            certificate: rc.enrolled.credentials.certificate,
            privateKey: rc.enrolled.credentials.keys.privateKey,
            clusterCA: rc.enrolled.credentials.caCertificate,
            capabilities: o.platform.capabilities,
            efi: update?.bootControl ?? o.platform.power.efi,
            kexecLoad: update?.kexecLoad ?? o.platform.power.kexecLoad,
            update: update?.service,
            power: (kind) => o.power(kind),
          }),
        // MarkBootSuccessful (node.md §16): this boot reached a successful join/enrolment.
        ...(update
          ? {
            update: async (c: Context) => {
              await update.service.markBootSuccessful();
              signal(c, "healthy");
              await untilAborted(c);
            },
          }
          : {}),
        // Metrics (node.md §17): node_exporter on 127.0.0.1:7841, HTTPS proxy on 7840.
        nodeexporter: (c: Context) => runNodeExporter(c),
        metrics: (c: Context) =>
          runMetrics(c, {
            certificate: rc.enrolled.credentials.certificate,
            privateKey: rc.enrolled.credentials.keys.privateKey,
            clusterCA: rc.enrolled.credentials.caCertificate,
            discovery: () =>
              [...(rc.nodes.get()?.values() ?? [])].filter((n) => n.address).map((n) => ({
                targets: [`${n.address}:${PORTS.metrics}`],
                labels: { __meta_metropolis_node: n.id },
              })),
          }),
        ...o.extraWorkers?.(rc),
      }),
    }),
  );
  run(
    ctx,
    "enrolment",
    async (c: Context) => {
      // The address goes into the etcd peer certificate at bootstrap: give DHCP a moment.
      await waitForAddress(address, 30_000, c.signal);
      await enrolmentRunnable({
        tpm: o.tpm,
        storage: storageSecurities(o.platform.capabilities),
        data: o.platform.data,
        address: () => address.get(),
      }, enrolled)(c);
    },
  );
}
