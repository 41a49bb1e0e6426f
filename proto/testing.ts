/**
 * Test helpers for grpc-js servers: the same loopback binding for every test that needs a real
 * server without TLS.
 * @module
 */
import * as grpc from "@grpc/grpc-js";

/** Binds `server` to an ephemeral port on 127.0.0.1 without TLS; resolves with the port. */
export function bindLoopback(server: grpc.Server): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (err, port) => err ? reject(err) : resolve(port),
    )
  );
}
