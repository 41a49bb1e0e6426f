/**
 * TLS termination for gRPC servers on 7835/7839 (node.md §10.1): a `node:tls` server presenting
 * the node certificate only, requesting but not verifying client certificates and advertising no
 * CA names, ALPN `h2`, TLS ≥ 1.2. Each secure connection is injected into a grpc-js server; the
 * client's certificates are kept in a {@link PeerTable} for the per-call authorizer.
 */
import { listenDualStack } from "../../base/net/listen.ts";
import tls from "node:tls";
import type { Buffer } from "node:buffer";
import type net from "node:net";
import type http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { certificatePem } from "../../base/pki/info.ts";
import { exportPkcs8Pem } from "../../base/pki/keys.ts";
import { type PeerCertificates, peerChain, peerKey, PeerTable } from "./peers.ts";
import { boundDetails } from "./status.ts";
import { filterGoaway } from "./goaway_filter.ts";
import { installDecoderRelease } from "./decoder_release.ts";

/**
 * grpc-js server options accepting client keepalive pings as often as every second, also without
 * calls (upstream's curator policy). grpc-js does not police pings itself; the options document the
 * policy and keep it if a future grpc-js starts enforcing them.
 */
export const SERVER_KEEPALIVE_OPTIONS: grpc.ServerOptions = {
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.http2.min_ping_interval_without_data_ms": 1000,
  "grpc.http2.min_time_between_pings_ms": 1000,
  "grpc.http2.max_ping_strikes": 0,
};

/**
 * grpc-js server options for work nothing here uses: channelz (grpc-js's introspection service,
 * which this project neither registers nor reads). With it on, grpc-js registers every connection
 * and call with channelz, keeps a trace of connection events and records the time of every call
 * and message: CPU per connection and per heartbeat on a curator holding thousands of nodes.
 */
export const SERVER_UNUSED_FEATURES_OFF: grpc.ServerOptions = {
  "grpc.enable_channelz": 0,
};

/**
 * Limits on what any client, authenticated or not, can hold on the server: connections are
 * accepted before anyone is known, so each bound applies before authentication.
 */
export interface ConnectionLimits {
  /** A connection whose TLS handshake has not completed after this long is closed. */
  handshakeTimeoutMs: number;
  /**
   * A connection without calls in progress for this long is closed (the TCP connection is
   * dropped, without GOAWAY: see {@link RpcServer.shutdown} for why this server never sends one).
   */
  idleTimeoutMs: number;
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS advertised on every connection; a client that opens more
   * loses the connection (nghttp2: PROTOCOL_ERROR). grpc-js and Go clients queue instead.
   */
  maxStreamsPerConnection: number;
  /** Open TCP connections (including those still in the handshake); more are closed at once. */
  maxConnections: number;
  /** Calls in progress over all connections; more are answered RESOURCE_EXHAUSTED. */
  maxCalls: number;
}

/**
 * Defaults: with them an unauthenticated client holds at most `maxCalls` calls (≈ 10 KiB each
 * for a watch such as GetCurrentLeader) and `maxConnections` connections, whatever it sends.
 * 128 streams per connection is far above the few long-lived watches a node keeps on its
 * curator channel.
 */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 120_000,
  maxStreamsPerConnection: 128,
  maxConnections: 1024,
  maxCalls: 4096,
};

/** Options of an {@link RpcServer}. */
export interface RpcServerOptions {
  /** DER node certificate, sent as the only certificate. */
  certificate: Uint8Array;
  /** Its private key (WebCrypto, extractable) or PKCS#8 PEM. */
  privateKey: CryptoKey | string;
  /**
   * Extra grpc-js server options (merged over {@link SERVER_KEEPALIVE_OPTIONS} and
   * {@link SERVER_UNUSED_FEATURES_OFF}).
   */
  grpcOptions?: grpc.ServerOptions;
  /** Overrides of {@link DEFAULT_CONNECTION_LIMITS} (tests use short timeouts). */
  limits?: Partial<ConnectionLimits>;
}

/**
 * Turns off both HPACK dynamic tables of every connection: the header table the client may fill
 * (SETTINGS_HEADER_TABLE_SIZE 0) and the one this server would fill for its responses. A node's
 * connection carries one long-lived Heartbeat stream, so the tables save a few bytes per message
 * and cost ≈ 1–2 KiB of nghttp2 entries per connection for the life of the connection (a leader
 * holds one per node). grpc-js passes no HTTP/2 settings from its options to `node:http2`, only
 * its private `commonServerOptions`; without that field (another grpc-js) nothing changes.
 * Deno's nghttp2 ignores a deflate table size of 0, so 1 (nothing fits) stands for "none".
 */
function withoutHpackTables(server: grpc.Server): void {
  const common = (server as unknown as { commonServerOptions?: http2.ServerOptions })
    .commonServerOptions;
  if (!common) return;
  common.settings = { ...common.settings, headerTableSize: 0 };
  common.maxDeflateDynamicTableSize = 1;
}

/** What a request deserializer returned instead of throwing: the request did not decode. */
class UndecodableRequest {
  constructor(readonly reason: string) {}
}

/**
 * grpc-js answers a throwing request deserializer with INTERNAL from below every interceptor.
 * A malformed request is the client's fault (INVALID_ARGUMENT): deserializers registered here
 * return an {@link UndecodableRequest} instead, which {@link callGuard} answers.
 */
class GuardedServer extends grpc.Server {
  constructor(options: grpc.ServerOptions) {
    super(options);
    withoutHpackTables(this);
  }

  override register(
    name: string,
    // deno-lint-ignore no-explicit-any
    handler: any,
    // deno-lint-ignore no-explicit-any
    serialize: any,
    deserialize: (b: Buffer) => unknown,
    type: string,
  ): boolean {
    const guarded = (b: Buffer) => {
      try {
        return deserialize(b);
      } catch (e) {
        return new UndecodableRequest((e as Error)?.message ?? String(e));
      }
    };
    return super.register(name, handler, serialize, guarded, type);
  }
}

/**
 * The server interceptor every call passes: refuses calls over the `maxCalls` budget
 * (RESOURCE_EXHAUSTED), answers undecodable requests with INVALID_ARGUMENT before any handler
 * sees them, and bounds every status message ({@link boundDetails}).
 */
function callGuard(
  maxCalls: number,
  perPeer: { started(peer: string): void; ended(peer: string): void },
): grpc.ServerInterceptor {
  let active = 0;
  return (_method, next) => {
    let counted = false;
    let failed = false;
    let peer: string | undefined;
    const release = () => {
      if (counted) active--;
      counted = false;
      if (peer !== undefined) perPeer.ended(peer);
      peer = undefined;
    };
    const fail = (code: grpc.status, details: string) => {
      failed = true;
      call.sendStatus({ code, details, metadata: new grpc.Metadata() });
    };
    const call: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(next, {
      start: (startNext) => {
        peer = call.getPeer();
        perPeer.started(peer);
        const busy = active >= maxCalls;
        if (!busy) {
          active++;
          counted = true;
        }
        startNext({
          onReceiveMetadata: (md, nextMd) => {
            if (!failed) nextMd(md);
          },
          onReceiveMessage: (msg, nextMsg) => {
            if (failed) return;
            if (msg instanceof UndecodableRequest) {
              fail(grpc.status.INVALID_ARGUMENT, `request does not decode: ${msg.reason}`);
              return;
            }
            nextMsg(msg);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            if (!failed) nextHalfClose();
          },
          onCancel: release,
        });
        if (busy) {
          fail(grpc.status.RESOURCE_EXHAUSTED, `server busy: ${maxCalls} calls in progress`);
        }
      },
      sendStatus: (status, nextStatus) => {
        release();
        nextStatus({ ...status, details: boundDetails(status.details ?? "") });
      },
    });
    return call;
  };
}

/** A live connection: its socket, calls in progress and idle timer. */
interface Conn {
  socket: net.Socket;
  calls: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** A grpc-js server behind our own TLS terminator; register services on `.grpc`. */
export class RpcServer {
  /** The grpc-js server: `addService` on it (wrapped with {@link authorizeService}). */
  readonly grpc: grpc.Server;
  /** Certificates of live connections, keyed by `call.getPeer()`. */
  readonly peers: PeerTable = new PeerTable();
  /** The limits in force. */
  readonly limits: ConnectionLimits;
  readonly #opts: RpcServerOptions;
  readonly #sockets = new Set<net.Socket>();
  /** Live connections by peer key: their calls in progress and idle timer. */
  readonly #conns = new Map<string, Conn>();
  #tls?: tls.Server;
  #injector?: ReturnType<grpc.Server["createConnectionInjector"]>;

  /** Creates the grpc-js server; nothing listens until {@link listen}. */
  constructor(opts: RpcServerOptions) {
    installDecoderRelease();
    this.#opts = opts;
    this.limits = { ...DEFAULT_CONNECTION_LIMITS, ...opts.limits };
    this.grpc = new GuardedServer({
      ...SERVER_KEEPALIVE_OPTIONS,
      ...SERVER_UNUSED_FEATURES_OFF,
      "grpc.max_concurrent_streams": this.limits.maxStreamsPerConnection,
      ...opts.grpcOptions,
      interceptors: [
        callGuard(this.limits.maxCalls, {
          started: (peer) => this.#callStarted(peer),
          ended: (peer) => this.#callEnded(peer),
        }),
        ...opts.grpcOptions?.interceptors ?? [],
      ],
    });
  }

  /** The certificates the client of connection `peer` (= `call.getPeer()`) sent. */
  peerCertificates(peer: string): readonly Uint8Array[] | undefined {
    return this.peers.get(peer)?.certificates;
  }

  /**
   * Starts listening on `host:port` (port 0: any free port) and resolves with the bound port.
   * Call after all services are added.
   */
  async listen(port: number, host = "::"): Promise<number> {
    if (this.#tls) throw new Error("rpc: server already listening");
    const key = typeof this.#opts.privateKey === "string"
      ? this.#opts.privateKey
      : await exportPkcs8Pem(this.#opts.privateKey);
    this.#injector = this.grpc.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const server = tls.createServer({
      cert: certificatePem(this.#opts.certificate),
      key,
      // Request, but neither require nor verify, client certificates; no `ca` so that the
      // CertificateRequest lists no CA names (Go clients would withhold self-signed certs).
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
      minVersion: "TLSv1.2",
      handshakeTimeout: this.limits.handshakeTimeoutMs,
    }, (socket) => this.#onSecure(socket));
    // Over the budget, node:net closes new connections right after accepting them.
    server.maxConnections = this.limits.maxConnections;
    // A failed or timed-out handshake concerns only that client; node:tls reports a handshake
    // timeout here but leaves the socket open, so close it.
    server.on("tlsClientError", (_e, socket) => socket.destroy());
    this.#tls = server;
    try {
      return await listenDualStack(server, port, host);
    } catch (e) {
      this.#tls = undefined;
      throw new Error(`rpc: cannot listen on ${host}:${port}: ${(e as Error).message}`);
    }
  }

  /** The bound port (after {@link listen}). */
  get port(): number {
    const a = this.#tls?.address() as net.AddressInfo | null | undefined;
    if (!a) throw new Error("rpc: server is not listening");
    return a.port;
  }

  #onSecure(socket: tls.TLSSocket): void {
    if (socket.alpnProtocol && socket.alpnProtocol !== "h2") {
      socket.destroy();
      return;
    }
    let certificates: Uint8Array[] = [];
    try {
      certificates = peerChain(socket);
    } catch {
      // Fail safe: a connection whose certificates cannot be read counts as presenting none.
    }
    const entry: PeerCertificates = { certificates };
    const key = peerKey(socket.remoteAddress, socket.remotePort);
    const remove = this.peers.add(key, entry);
    this.#sockets.add(socket);
    const conn: Conn = { socket, calls: 0 };
    this.#conns.set(key, conn);
    this.#armIdle(conn);
    socket.once("close", () => {
      remove();
      this.#sockets.delete(socket);
      clearTimeout(conn.timer);
      if (this.#conns.get(key) === conn) this.#conns.delete(key);
    });
    socket.on("error", () => {/* reported to grpc-js through close */});
    // node:http2 takes a TLS socket without ALPN for HTTP/1 and refuses it; this server speaks
    // only h2, also to a client that offered no ALPN (as upstream's Go server does).
    if (!socket.alpnProtocol) socket.alpnProtocol = "h2";
    // With a filter that drops the client's GOAWAY: see goaway_filter.ts (Deno nghttp2 bug).
    this.#injector!.injectConnection(filterGoaway(socket));
  }

  #armIdle(conn: Conn): void {
    clearTimeout(conn.timer);
    conn.timer = setTimeout(() => conn.socket.destroy(), this.limits.idleTimeoutMs);
  }

  #callStarted(peer: string): void {
    const c = this.#conns.get(peer);
    if (!c) return;
    c.calls++;
    clearTimeout(c.timer);
    // Not kept while calls run (a node's Heartbeat runs as long as its connection): the cleared
    // timer and its closure are garbage, not per-connection heap.
    c.timer = undefined;
  }

  #callEnded(peer: string): void {
    const c = this.#conns.get(peer);
    if (!c) return;
    c.calls = Math.max(0, c.calls - 1);
    if (c.calls === 0) this.#armIdle(c);
  }

  /**
   * Stops the server: stops accepting, drops every connection, cancels every call.
   *
   * Deliberately without GOAWAY (neither grpc-js's graceful tryShutdown nor a session close): a
   * Deno HTTP/2 client that receives a GOAWAY after it has run streams on the session can die
   * inside nghttp2 (`find_stream_on_goaway_func: Assertion stream->closed_next == NULL`, or
   * SIGSEGV; denoland/deno#36788, open for Deno 2.9.5/2.9.6). Our clients are Deno agents,
   * metroctl and the launcher, so a dropped TCP connection (UNAVAILABLE, retried) is the safe way
   * to end their calls. `graceful` and `graceMs` are kept for callers and ignored.
   */
  async shutdown(_graceful = true, _graceMs = 5000): Promise<void> {
    const tlsServer = this.#tls;
    const closed = tlsServer
      ? new Promise<void>((r) => tlsServer.close(() => r()))
      : Promise.resolve();
    for (const s of this.#sockets) s.destroy();
    this.grpc.forceShutdown();
    await closed;
  }
}
