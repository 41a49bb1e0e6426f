/**
 * The node management service `metropolis.proto.api.NodeManagement` on port 7839 (node.md §14):
 * Logs, Reboot and UpdateNode behind the same TLS terminator and authorizer as the curator (§10),
 * run as a supervisor runnable.
 */
import { PORTS } from "../constants/ports.ts";
import * as grpc from "@grpc/grpc-js";
import {
  type LogsRequest,
  type LogsResponse,
  NodeManagement,
  type RebootRequest,
  type UpdateNodeRequest,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { authorizationOf, serviceDefinition } from "../../../proto/grpc.ts";
import type { LogTree } from "../../base/logtree/logtree.ts";
import { type Context, signal, untilAborted } from "../../base/supervisor/supervisor.ts";
import type { Capabilities } from "../platform/platform.ts";
import { Authorizer, authorizeService, RpcError } from "../rpc/auth.ts";
import { RpcServer } from "../rpc/server.ts";
import { grpcSink, serveLogs } from "./logs.ts";
import { type BootControl, type PowerFunction, Rebooter } from "./reboot.ts";

/** The node management port. */
export const NODE_MANAGEMENT_PORT = PORTS.nodeManagement;

/** DN of the management service's own log lines (`Reboot requested, …`). */
export const MGMT_DN = "root.mgmt";

/** Options of {@link runNodeManagement} and {@link NodeManagementServer}. */
export interface NodeManagementOptions {
  /** The node's log tree, served by Logs. */
  tree: LogTree;
  /** This node's certificate (DER) and key, presented to clients. */
  certificate: Uint8Array;
  privateKey: CryptoKey | string;
  /** DER of the cluster CA (or a getter), against which client certificates are checked. */
  clusterCA: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
  /** Port (default 7839; 0 = any free port, for tests). */
  port?: number;
  /** Address to bind (default all, `::` with IPv4 fallback). */
  host?: string;
  /** Performs reboot / power-off / kexec (the agent: `sync()` + `reboot(2)`). */
  power: PowerFunction;
  /** What the platform can do about reboots (kexec, efivars, reboot kind; node.md §3). */
  capabilities: Pick<Capabilities, "kexec" | "efivars" | "reboot">;
  /** EFI boot control for NEXT_BOOT_* (VM/metal); absent: rollback UNAVAILABLE, UI UNIMPLEMENTED. */
  efi?: BootControl;
  /** Stages the active slot's kernel for TYPE_KEXEC (VM/metal); absent: kexec UNAVAILABLE. */
  kexecLoad?: () => Promise<void>;
  /**
   * A/B updates (node/core/update `UpdateService`); absent: UpdateNode is UNIMPLEMENTED
   * ({@link UPDATE_UNAVAILABLE}), as on namespace nodes.
   */
  update?: UpdateHandler;
  /** Delay between the Reboot/UpdateNode response and the power action (default 2000 ms). */
  rebootDelayMs?: number;
  /** Called with the bound port once listening (useful with `port: 0`). */
  onListening?: (port: number) => void;
}

/** The message UpdateNode answers with on a node without A/B slots. */
export const UPDATE_UNAVAILABLE = "OS updates are not available on this node: it has no A/B slots";

/**
 * Installs an update and returns the power action to take after answering (node.md §14):
 * `reboot` (BootNext set), `kexec` (new kernel staged) or `none`; throws an RpcError.
 */
export interface UpdateHandler {
  update(req: UpdateNodeRequest): Promise<"reboot" | "kexec" | "none">;
}

/** The NodeManagement gRPC server; {@link runNodeManagement} is the supervised way to run it. */
export class NodeManagementServer {
  readonly rpc: RpcServer;
  readonly rebooter: Rebooter;
  readonly #o: NodeManagementOptions;

  /** Builds the server and registers the service; nothing listens until {@link listen}. */
  constructor(o: NodeManagementOptions) {
    this.#o = o;
    this.rpc = new RpcServer({ certificate: o.certificate, privateKey: o.privateKey });
    this.rebooter = new Rebooter({
      capabilities: o.capabilities,
      power: o.power,
      efi: o.efi,
      kexecLoad: o.kexecLoad,
      logger: o.tree.logger(MGMT_DN),
      delayMs: o.rebootDelayMs,
    });
    const authorizer = new Authorizer({
      authorizationOf,
      peerCertificates: (p) => this.rpc.peerCertificates(p),
      clusterCA: o.clusterCA,
    });
    const def = serviceDefinition(NodeManagement);
    this.rpc.grpc.addService(def, authorizeService(def, this.#handlers(), authorizer));
  }

  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number> {
    return this.rpc.listen(this.#o.port ?? NODE_MANAGEMENT_PORT, this.#o.host);
  }

  /** Stops serving: running calls (live Logs streams) are cancelled. */
  shutdown(): Promise<void> {
    return this.rpc.shutdown(false);
  }

  #handlers(): grpc.UntypedServiceImplementation {
    const tree = this.#o.tree;
    const rebooter = this.rebooter;
    return {
      logs: (call: grpc.ServerWritableStream<LogsRequest, LogsResponse>) => {
        const ac = new AbortController();
        call.on("cancelled", () => ac.abort());
        call.on("close", () => ac.abort());
        // Rejections become the call's status through authorizeService.
        return serveLogs(tree, call.request, grpcSink(call, ac.signal), ac.signal)
          .then(() => {
            if (!ac.signal.aborted) call.end();
          });
      },
      reboot: (
        call: grpc.ServerUnaryCall<RebootRequest, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => rebooter.reboot(call.request).then(() => callback(null, {})),
      updateNode: async (
        call: grpc.ServerUnaryCall<UpdateNodeRequest, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        const update = this.#o.update;
        if (!update) throw new RpcError(grpc.status.UNIMPLEMENTED, UPDATE_UNAVAILABLE);
        const action = await update.update(call.request);
        callback(null, {});
        // As for Reboot: answer first, act 2 s later.
        if (action !== "none") rebooter.schedule(action);
      },
    };
  }
}

/**
 * Runnable serving NodeManagement until `ctx` aborts: Healthy once listening, then on abort stops
 * listening and cancels running calls. A pending reboot still happens (the client was answered).
 * Run it e.g. as `run(ctx, "mgmt", (c) => runNodeManagement(c, opts))`.
 */
export async function runNodeManagement(ctx: Context, o: NodeManagementOptions): Promise<void> {
  const server = new NodeManagementServer(o);
  const port = await server.listen();
  try {
    ctx.logger.info(`NodeManagement listening on port ${port}`);
    o.onListening?.(port);
    signal(ctx, "healthy");
    await untilAborted(ctx);
  } finally {
    await server.shutdown();
  }
  ctx.logger.info("NodeManagement stopped");
}
