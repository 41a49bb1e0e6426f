/**
 * The authproxy (kubernetes.md §10): users' kubectl reaches the apiserver on :6444 with their
 * Metropolis certificate; the proxy forwards to the local apiserver as the request-header
 * client `metropolis-auth-proxy-client` with `X-Remote-User: <CN>`.
 *
 * TLS is terminated by a `node:tls` server that requests but does not verify client
 * certificates and sends no CA names (Go clients withhold certificates whose issuer is not
 * listed, workplace.md §3); {@link authenticateClient} decides per connection. Refused clients
 * get HTTP 401 with a Kubernetes `Status` body to their first request, never a proxied one.
 *
 * ALPN offers only `http/1.1`, not `h2` as the spec lists: rewriting headers per request over
 * HTTP/2 would need a full HTTP/2 server and client (HPACK, per-stream flow control) on a socket
 * whose certificate we verify ourselves, which Deno's node:http2 does not offer as a tested
 * path. kubectl offers h2 and http/1.1 and settles on HTTP/1.1 (checked with kubectl 1.32
 * against this proxy); exec/attach/port-forward upgrades are HTTP/1.1 anyway. Each client
 * connection gets its own upstream connection, so keep-alive and upgrades keep their meaning
 * end to end.
 */
import { listenDualStack } from "../../base/net/listen.ts";
import tls from "node:tls";
import net from "node:net";
import { certificatePem } from "../../base/pki/info.ts";
import { exportPkcs8Pem } from "../../base/pki/keys.ts";
import { type Context, type Runnable, signal } from "../../base/supervisor/supervisor.ts";
import { peerChain } from "../../core/rpc/peers.ts";
import type { NodeIdentity } from "../deps.ts";
import { APISERVER_LOCAL, PORTS } from "../paths.ts";
import { authenticateClient } from "./auth.ts";
import { refuse, relay } from "./connection.ts";
import { StreamReader } from "./http1.ts";

/** Options of {@link authproxy}. */
export interface AuthProxyOptions {
  /** Serving certificate = the node certificate; clients are verified against `clusterCA`. */
  identity: NodeIdentity;
  /** Apiserver URL; default {@link APISERVER_LOCAL}. */
  upstream?: string;
  /** PEM of id-ca (the apiserver's certificate chains to it). */
  upstreamCaPem: string;
  /**
   * Name the apiserver certificate is checked against when `upstream` is an IP address (Deno
   * refuses IP servernames, workplace.md §3); default `kubernetes`, one of its DNS SANs.
   */
  upstreamServerName?: string;
  /** The `metropolis-auth-proxy-client` certificate and PKCS#8 key (PEM). */
  clientCertPem: string;
  clientKeyPem: string;
  /** Default {@link PORTS.authproxy}; 0 = ephemeral (see `onListening`). */
  port?: number;
  /** Listen address; default all addresses (dual stack, IPv4 where IPv6 is unavailable). */
  host?: string;
  /** Called with the bound port once listening. */
  onListening?: (port: number) => void;
  /** Timeouts (ms): TLS handshake (default 10 s), idle keep-alive connection (default 120 s). */
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
}

/** Dials the apiserver: TLS ≥ 1.2, HTTP/1.1, the auth-proxy client certificate. */
function dialer(o: AuthProxyOptions, timeoutMs: number) {
  const url = new URL(o.upstream ?? APISERVER_LOCAL);
  if (url.protocol !== "https:") throw new Error(`authproxy: upstream must be https, got ${url}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(url.port || 443);
  const servername = net.isIP(host) ? (o.upstreamServerName ?? "kubernetes") : host;
  return () =>
    new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({
        host,
        port,
        servername,
        ca: o.upstreamCaPem,
        cert: o.clientCertPem,
        key: o.clientKeyPem,
        ALPNProtocols: ["http/1.1"],
        minVersion: "TLSv1.2",
      });
      const t = setTimeout(() => s.destroy(new Error("TLS connection timed out")), timeoutMs);
      s.once("secureConnect", () => {
        clearTimeout(t);
        s.off("error", onError);
        s.on("error", () => {/* surfaces as close to the relay */});
        resolve(s);
      });
      const onError = (e: Error) => {
        clearTimeout(t);
        s.destroy();
        reject(e);
      };
      s.once("error", onError);
    });
}

/** The authproxy runnable: healthy once listening; throws when the port cannot be bound. */
export function authproxy(o: AuthProxyOptions): Runnable {
  return async (ctx: Context) => {
    const handshakeMs = o.handshakeTimeoutMs ?? 10_000;
    const idleMs = o.idleTimeoutMs ?? 120_000;
    const dial = dialer(o, handshakeMs);
    const sockets = new Set<net.Socket>();
    const onSecure = async (socket: tls.TLSSocket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      socket.on("error", () => {/* ends in close */});
      // Read from the start: request bytes may arrive while the certificate is checked.
      const reader = new StreamReader(socket);
      let chain: Uint8Array[] = [];
      try {
        chain = peerChain(socket);
      } catch {
        // Unreadable certificates count as none.
      }
      const who = await authenticateClient(chain, o.identity.clusterCA);
      if ("reason" in who) {
        ctx.logger.info(`refused ${socket.remoteAddress}: ${who.reason}`);
        await refuse(socket, reader, 401, `Unauthorized: ${who.reason}`, handshakeMs);
        return;
      }
      await relay(socket, reader, {
        user: who.user,
        dial,
        idleMs,
        onError: (m) => ctx.logger.warning(`${who.user}@${socket.remoteAddress}: ${m}`),
      });
    };
    const server = tls.createServer({
      cert: certificatePem(o.identity.certificate),
      key: await exportPkcs8Pem(o.identity.privateKey),
      // Request, but do not verify, client certificates; no `ca`, so no CA names are sent.
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
      minVersion: "TLSv1.2",
      handshakeTimeout: handshakeMs,
    }, (s) =>
      void onSecure(s).catch((e) => {
        ctx.logger.warning(`connection: ${(e as Error).message}`);
        s.destroy();
      }));
    // A failed or timed-out handshake concerns only that client; Deno leaves the socket open.
    server.on("tlsClientError", (_e, s) => s.destroy());
    server.on("connection", (s: net.Socket) => {
      sockets.add(s);
      s.once("close", () => sockets.delete(s));
    });
    const port = await listenDualStack(server, o.port ?? PORTS.authproxy, o.host);
    ctx.logger.info(`listening on :${port}, forwarding to ${o.upstream ?? APISERVER_LOCAL}`);
    o.onListening?.(port);
    signal(ctx, "healthy");
    const failed = Promise.withResolvers<never>();
    server.on("error", (e) => failed.reject(e));
    const aborted = new Promise<void>((resolve) => {
      if (ctx.signal.aborted) return resolve();
      ctx.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    try {
      await Promise.race([aborted, failed.promise]);
    } finally {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    }
  };
}
