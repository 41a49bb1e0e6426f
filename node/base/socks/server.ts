/**
 * A SOCKS5 server (RFC 1928): no authentication, CONNECT only, IPv4/IPv6/domain destinations.
 * Used by the launcher to give metroctl and tests a way into node networks.
 */
import net from "node:net";
import { Buffer } from "node:buffer";
import {
  ATYP,
  CMD_CONNECT,
  type Destination,
  ipv6Text,
  METHOD_NONE,
  METHOD_UNACCEPTABLE,
  REPLY,
  VERSION,
} from "./protocol.ts";
import { HandshakeReader } from "./reader.ts";

/** Options of a {@link Socks5Server}. */
export interface Socks5ServerOptions {
  /**
   * Opens the outgoing connection (default: `net.connect`). Throwing an error with a `code`
   * property (e.g. ECONNREFUSED) maps to the matching SOCKS reply; use it to restrict targets.
   */
  connect?(d: Destination): Promise<net.Socket>;
  /**
   * Decides on a CONNECT before any connection is opened: the host to dial, or the reply code
   * refusing it. `atyp` is the request's address type (so e.g. IPv6 can be refused with
   * `ADDRESS_TYPE_NOT_SUPPORTED` although it parses). Default: dial the requested host.
   */
  check?(d: Destination, atyp: number): { host: string } | { reply: number };
  /** Called once per CONNECT request with the reply code sent (for logs). */
  onRequest?(d: Destination, reply: number): void;
}

/** Default outgoing connect: resolves once connected. */
export function tcpConnect(d: Destination): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: d.host, port: d.port });
    s.once("connect", () => {
      s.off("error", reject);
      resolve(s);
    });
    s.once("error", reject);
  });
}

/** Maps a connect error to a SOCKS reply code. */
export function replyForError(e: unknown): number {
  switch ((e as { code?: string })?.code) {
    case "ECONNREFUSED":
      return REPLY.CONNECTION_REFUSED;
    case "ENETUNREACH":
      return REPLY.NETWORK_UNREACHABLE;
    case "EHOSTUNREACH":
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "ETIMEDOUT":
      return REPLY.HOST_UNREACHABLE;
    case "EACCES":
    case "EPERM":
      return REPLY.NOT_ALLOWED;
    default:
      return REPLY.GENERAL_FAILURE;
  }
}

function reply(code: number, bound?: net.AddressInfo | Record<string, never>): Buffer {
  // BND.ADDR/BND.PORT: the upstream socket's local address when known, else 0.0.0.0:0.
  const a = bound && "address" in bound ? bound : undefined;
  if (a && net.isIPv4(a.address)) {
    return Buffer.from([
      VERSION,
      code,
      0,
      ATYP.IPV4,
      ...a.address.split(".").map(Number),
      a.port >> 8,
      a.port & 0xff,
    ]);
  }
  return Buffer.from([VERSION, code, 0, ATYP.IPV4, 0, 0, 0, 0, 0, 0]);
}

/** A listening SOCKS5 server. */
export class Socks5Server {
  readonly #opts: Socks5ServerOptions;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  /** Creates the server; call {@link listen}. */
  constructor(opts: Socks5ServerOptions = {}) {
    this.#opts = opts;
    this.#server = net.createServer((s) => this.#handle(s));
  }

  /** Listens on `host:port` (0: any) and resolves with the bound port. */
  listen(port: number, host = "127.0.0.1"): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, host, () => {
        this.#server.off("error", reject);
        resolve((this.#server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops listening and drops every relayed connection. */
  close(): Promise<void> {
    const p = new Promise<void>((r) => this.#server.close(() => r()));
    for (const s of this.#sockets) s.destroy();
    return p;
  }

  #track(s: net.Socket) {
    this.#sockets.add(s);
    s.once("close", () => this.#sockets.delete(s));
  }

  async #handle(client: net.Socket): Promise<void> {
    this.#track(client);
    client.on("error", () => {/* peer went away */});
    const r = new HandshakeReader(client);
    let dest: Destination | undefined;
    let target: Destination;
    try {
      const [ver, nMethods] = await r.read(2);
      if (ver !== VERSION) throw new Error(`socks: version ${ver} not supported`);
      const methods = await r.read(nMethods);
      if (!methods.includes(METHOD_NONE)) {
        client.end(Buffer.from([VERSION, METHOD_UNACCEPTABLE]));
        return;
      }
      client.write(Buffer.from([VERSION, METHOD_NONE]));
      const [v2, cmd, , atyp] = await r.read(4);
      if (v2 !== VERSION) throw new Error(`socks: version ${v2} in request`);
      let host: string;
      if (atyp === ATYP.IPV4) host = [...(await r.read(4))].join(".");
      else if (atyp === ATYP.IPV6) host = ipv6Text(await r.read(16));
      else if (atyp === ATYP.DOMAIN) host = (await r.read((await r.read(1))[0])).toString();
      else {
        client.end(reply(REPLY.ADDRESS_TYPE_NOT_SUPPORTED));
        return;
      }
      const pb = await r.read(2);
      dest = { host, port: (pb[0] << 8) | pb[1] };
      const decision = cmd !== CMD_CONNECT
        ? { reply: REPLY.COMMAND_NOT_SUPPORTED }
        : this.#opts.check?.(dest, atyp) ?? { host };
      if ("reply" in decision) {
        this.#opts.onRequest?.(dest, decision.reply);
        client.end(reply(decision.reply));
        return;
      }
      target = { host: decision.host, port: dest.port };
    } catch {
      client.destroy();
      return;
    }
    let upstream: net.Socket;
    try {
      upstream = await (this.#opts.connect ?? tcpConnect)(target);
    } catch (e) {
      const code = replyForError(e);
      this.#opts.onRequest?.(dest, code);
      client.end(reply(code));
      return;
    }
    this.#opts.onRequest?.(dest, REPLY.SUCCEEDED);
    this.#track(upstream);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.once("close", () => upstream.destroy());
    upstream.once("close", () => client.destroy());
    const rest = r.release();
    client.write(reply(REPLY.SUCCEEDED, upstream.address() as net.AddressInfo));
    if (rest.length) upstream.write(rest);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }
}
