/**
 * Loopback relay: a local TCP port whose every connection is forwarded to one target through a
 * SOCKS5 proxy. grpc-js only knows HTTP CONNECT proxies, so SOCKS dials go to the relay instead.
 */
import net from "node:net";
import type { Destination } from "./protocol.ts";
import { socks5Connect } from "./client.ts";

/** A running relay. */
export interface SocksRelay {
  /** `127.0.0.1:<port>`, to dial instead of the target. */
  readonly address: string;
  readonly port: number;
  /** Stops the relay and drops its connections. */
  close(): Promise<void>;
}

/** Starts a relay on 127.0.0.1 (any port) forwarding to `target` via `proxy`. */
export async function startSocksRelay(
  proxy: Destination,
  target: Destination,
  onError: (e: Error) => void = () => {},
): Promise<SocksRelay> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  };
  const server = net.createServer((local) => {
    track(local);
    local.pause();
    local.on("error", () => {});
    socks5Connect(proxy, target).then((remote) => {
      track(remote);
      if (local.destroyed) {
        remote.destroy();
        return;
      }
      remote.on("error", () => local.destroy());
      local.on("error", () => remote.destroy());
      local.once("close", () => remote.destroy());
      remote.once("close", () => local.destroy());
      local.pipe(remote);
      remote.pipe(local);
      local.resume();
    }, (e: Error) => {
      onError(e);
      local.destroy();
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
  return {
    address: `127.0.0.1:${port}`,
    port,
    close: () => {
      const p = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      return p;
    },
  };
}
