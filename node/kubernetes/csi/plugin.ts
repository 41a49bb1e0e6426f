/**
 * The CSI node plugin's sockets (kubernetes.md §11): the plugin itself (Identity and Node
 * services, {@link identityService}, {@link nodeService}) on `CSI_SOCKETS.plugin`, and — once
 * that listens — the kubelet plugin registration service (pluginregistration v1) on
 * `CSI_SOCKETS.registration` in the kubelet's `plugins_registry/`, where the kubelet's plugin
 * watcher finds it, asks for {@link pluginInfo}, registers the driver (calling NodeGetInfo on
 * the plugin socket) and reports the outcome. A refused registration fails the `registration`
 * child: the supervisor restarts it with a fresh socket, which makes the kubelet try again.
 */
import * as grpc from "@grpc/grpc-js";
import { addService } from "../../../proto/grpc.ts";
import { Identity, Node } from "../../../proto/gen/third_party/csi/csi_pb.ts";
import {
  type PluginInfo,
  Registration,
} from "../../../proto/gen/third_party/pluginregistration/v1/api_pb.ts";
import { delay } from "../../base/delay/delay.ts";
import { run, type Runnable, signal, untilAborted } from "../../base/supervisor/supervisor.ts";
import { unixListener } from "../../core/rpc/unix.ts";
import { CSI_DRIVER } from "../reconciler/objects.ts";
import { type CsiNodeOptions, identityService, nodeService } from "./node.ts";

/** How long a refused registration keeps its socket so that the answer reaches the kubelet. */
const ANSWER_GRACE_MS = 200;

/** The CSI versions the plugin speaks (CSI spec v1; the kubelet wants one ≥ 1.0.0). */
export const SUPPORTED_VERSIONS = ["1.2.0"];

/** The socket paths (the node's are `CSI_SOCKETS` of paths.ts). */
export interface CsiSockets {
  plugin: string;
  registration: string;
}

/** What GetInfo answers: a CSI plugin named after the driver, served at `endpoint`. */
export function pluginInfo(endpoint: string): Omit<PluginInfo, "$typeName"> {
  return { type: "CSIPlugin", name: CSI_DRIVER, endpoint, supportedVersions: SUPPORTED_VERSIONS };
}

/** The registration service until the kubelet refuses it (then it throws). */
function registration(sockets: CsiSockets): Runnable {
  return async (ctx) => {
    let refused!: (e: Error) => void;
    const refusal = new Promise<never>((_, reject) => refused = reject);
    const server = new grpc.Server();
    addService(server, Registration, {
      getInfo: (_call, cb) => cb(null, pluginInfo(sockets.plugin)),
      notifyRegistrationStatus: (call, cb) => {
        cb(null, {});
        const r = call.request;
        if (r.pluginRegistered) {
          ctx.logger.info(`registered with the kubelet as ${CSI_DRIVER}`);
        } else {
          // Fail only after the answer had time to leave: failing closes the connection.
          const e = new Error(`the kubelet refused the registration: ${r.error.slice(0, 300)}`);
          delay(ANSWER_GRACE_MS).then(() => refused(e));
        }
      },
    });
    const stop = await unixListener(sockets.registration).listen(server);
    signal(ctx, "healthy");
    try {
      await Promise.race([refusal, untilAborted(ctx)]);
    } finally {
      await stop();
      server.forceShutdown();
    }
  };
}

/** The plugin runnable: serves the plugin socket, then runs the registration child. */
export function csiPlugin(o: CsiNodeOptions & { sockets: CsiSockets }): Runnable {
  return async (ctx) => {
    const server = new grpc.Server();
    addService(server, Identity, identityService());
    addService(server, Node, nodeService(o));
    const stop = await unixListener(o.sockets.plugin).listen(server);
    try {
      run(ctx, "registration", registration(o.sockets));
      signal(ctx, "healthy");
      await untilAborted(ctx);
    } finally {
      await stop();
      server.forceShutdown();
    }
  };
}
