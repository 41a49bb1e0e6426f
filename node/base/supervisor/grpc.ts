/**
 * gRPC helper (node.md §4.5): runs a grpc-js server as a runnable that is Healthy once listening
 * and shuts the server down when its context is aborted.
 */
import * as grpc from "@grpc/grpc-js";
import { type Runnable, signal, untilAborted } from "./supervisor.ts";

/** Where the server listens. */
export type GrpcListener =
  /** `server.bindAsync(address, credentials)`, e.g. `unix:/run/x.sock` or `[::]:7835`. */
  | { address: string; credentials: grpc.ServerCredentials }
  /**
   * A custom listener (e.g. a `node:tls` server feeding `createConnectionInjector`): `listen`
   * starts accepting and returns a function that stops accepting.
   */
  | { listen: (server: grpc.Server) => Promise<() => Promise<void> | void> };

/** Port chosen by the last `bindAsync` of a runnable, keyed by server (tests, logging). */
export const boundPorts: WeakMap<grpc.Server, number> = new WeakMap();

/**
 * A runnable serving `server` on `listener`. On abort it stops listening and shuts the server
 * down: with `graceful` it lets running calls finish (`tryShutdown`), else it cancels them
 * (`forceShutdown`).
 */
export function grpcServer(
  server: grpc.Server,
  listener: GrpcListener,
  graceful: boolean,
): Runnable {
  return async (ctx) => {
    let stopListening: () => Promise<void> | void = () => {};
    if ("address" in listener) {
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(
          listener.address,
          listener.credentials,
          (err, p) =>
            err ? reject(new Error(`grpc: bind ${listener.address}: ${err.message}`)) : resolve(p),
        )
      );
      boundPorts.set(server, port);
      ctx.logger.info(`gRPC server listening on ${listener.address} (port ${port})`);
    } else {
      stopListening = await listener.listen(server);
      ctx.logger.info("gRPC server listening (custom listener)");
    }
    signal(ctx, "healthy");
    await untilAborted(ctx);
    await stopListening();
    if (graceful) {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    } else {
      server.forceShutdown();
    }
    ctx.logger.info(`gRPC server stopped (${graceful ? "graceful" : "immediate"})`);
  };
}
