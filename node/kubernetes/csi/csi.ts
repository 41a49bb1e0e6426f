/**
 * Local persistent volumes on a worker (kubernetes.md §11), DN `…worker.csi`: the CSI node plugin
 * (`plugin`, registered with the kubelet) and the provisioner (`provisioner`) over the volume
 * directories below `/data/volumes`. Whether the filesystem enforces project quotas is checked
 * once at start and handed to both: without quotas (a kernel whose XFS lacks quota support)
 * volumes work but their size is not enforced, which the log and the claims' Events say.
 */
import { projectQuotasEnforced } from "../../base/fsquota/fsquota.ts";
import { run, type Runnable, signal, untilAborted } from "../../base/supervisor/supervisor.ts";
import type { KubeClient } from "../client/client.ts";
import { CSI_SOCKETS, DATA } from "../paths.ts";
import { csiPlugin, type CsiSockets } from "./plugin.ts";
import { provisioner } from "./provisioner.ts";

/** What the CSI runnable needs; directories default to the node's. */
export interface CsiOptions {
  nodeId: string;
  /** Client as the CSI provisioner identity. */
  client: KubeClient;
  volumesDir?: string;
  kubeletDir?: string;
  sockets?: CsiSockets;
}

/** The CSI runnable (see the module comment). */
export function csi(o: CsiOptions): Runnable {
  return async (ctx) => {
    const volumesDir = o.volumesDir ?? DATA.volumes;
    await Deno.mkdir(volumesDir, { recursive: true, mode: 0o755 });
    const quotas = projectQuotasEnforced(volumesDir);
    if (!quotas) {
      ctx.logger.warning(`${volumesDir}: no enforced project quotas; volume sizes not enforced`);
    }
    run(
      ctx,
      "plugin",
      csiPlugin({
        nodeId: o.nodeId,
        volumesDir,
        kubeletDir: o.kubeletDir ?? DATA.kubelet,
        quotas,
        sockets: o.sockets ?? CSI_SOCKETS,
      }),
    );
    run(
      ctx,
      "provisioner",
      provisioner({ client: o.client, nodeId: o.nodeId, volumes: { dir: volumesDir, quotas } }),
    );
    signal(ctx, "healthy");
    await untilAborted(ctx);
  };
}
