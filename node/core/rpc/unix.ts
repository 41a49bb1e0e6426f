/**
 * Plain-text gRPC on a unix socket for local peers (the kubelet's plugin sockets): a `node:net`
 * server on the socket path whose connections are injected into a grpc-js server, each read
 * through {@link filterGoaway} — the kubelet's Go client sends a GOAWAY whenever it closes a
 * connection, which can crash a Deno HTTP/2 server session (see goaway_filter.ts).
 */
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { GrpcListener } from "../../base/supervisor/grpc.ts";
import { filterGoaway } from "./goaway_filter.ts";

/**
 * A {@link GrpcListener} on unix socket `path` (for the supervisor's `grpcServer`). A stale
 * socket file left by an earlier run is removed first; stopping closes the listener, drops the
 * connections and removes the socket file.
 */
export function unixListener(
  path: string,
  mode = 0o600,
): Extract<GrpcListener, { listen: unknown }> {
  return {
    listen: async (server: grpc.Server) => {
      await Deno.remove(path).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")) || "/", { recursive: true });
      const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
      const sockets = new Set<net.Socket>();
      const listener = net.createServer((socket) => {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        socket.on("error", () => {/* reported to grpc-js through close */});
        injector.injectConnection(filterGoaway(socket));
      });
      await new Promise<void>((resolve, reject) => {
        listener.once("error", reject);
        listener.listen(path, () => {
          listener.off("error", reject);
          resolve();
        });
      });
      await Deno.chmod(path, mode);
      return async () => {
        const closed = new Promise<void>((r) => listener.close(() => r()));
        for (const s of sockets) s.destroy();
        await closed;
        await Deno.remove(path).catch(() => {});
      };
    },
  };
}
