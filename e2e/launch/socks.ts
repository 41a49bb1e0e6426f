/**
 * The switch's SOCKS5 server (testing.md §2.1): RFC 1928, no authentication, CONNECT only
 * (else `0x07`). IPv4 targets must lie in the node subnet and not be `.0`, `.1` or `.255`
 * (else `0x02`); domain names resolve only through the launcher's node ID → address table (else
 * `0x04`); IPv6 → `0x08`; a refused connect → `0x05`. Listens on 127.0.0.1:1080 or the next free
 * port.
 *
 * The wire format and the client side come from node/base/socks; the handshake is done here
 * because the generic server has no way to answer `0x08` for an address type it does parse.
 * Dialing nodes through the proxy with grpc-js: {@link NodeDialer} (one loopback relay per
 * target, node/base/socks `startSocksRelay`).
 * @module
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
  parseHostPort,
  REPLY,
  replyForError,
  type SocksRelay,
  startSocksRelay,
  tcpConnect,
  VERSION,
} from "../../node/base/socks/mod.ts";
import { HandshakeReader } from "../../node/base/socks/reader.ts";
import type { Subnet } from "./options.ts";

/** Default SOCKS port; taken → the next free one above it. */
export const DEFAULT_SOCKS_PORT = 1080;

/** Decision for one CONNECT: the address to dial, or the reply code refusing it. */
export type TargetDecision = { ok: true; host: string } | { ok: false; reply: number };

/**
 * Applies the switch's target rules. `atyp` is the request's address type, `host` its address
 * (IPv4 dotted, IPv6 text or a name) and `table` maps node IDs to addresses.
 */
export function checkTarget(
  subnet: Subnet,
  table: ReadonlyMap<string, string>,
  atyp: number,
  host: string,
): TargetDecision {
  if (atyp === ATYP.IPV6) return { ok: false, reply: REPLY.ADDRESS_TYPE_NOT_SUPPORTED };
  if (atyp === ATYP.DOMAIN) {
    const addr = table.get(host);
    return addr === undefined
      ? { ok: false, reply: REPLY.HOST_UNREACHABLE }
      : checkTarget(subnet, table, ATYP.IPV4, addr);
  }
  if (atyp !== ATYP.IPV4) return { ok: false, reply: REPLY.ADDRESS_TYPE_NOT_SUPPORTED };
  const last = Number(host.split(".")[3]);
  const inSubnet = host.startsWith(subnet.prefix + ".") && host.split(".").length === 4;
  if (!inSubnet || last === 0 || last === 1 || last === 255) {
    return { ok: false, reply: REPLY.NOT_ALLOWED };
  }
  return { ok: true, host };
}

function reply(code: number, bound?: net.AddressInfo): Buffer {
  const ip = bound && net.isIPv4(bound.address)
    ? bound.address.split(".").map(Number)
    : [0, 0, 0, 0];
  const port = bound?.port ?? 0;
  return Buffer.from([VERSION, code, 0, ATYP.IPV4, ...ip, port >> 8, port & 0xff]);
}

/** Options of {@link SwitchSocks.start}. */
export interface SwitchSocksOptions {
  subnet: Subnet;
  /** Fixed port; default: {@link firstPort} or the next free port. */
  port?: number;
  /** First port tried when `port` is unset (default 1080). */
  firstPort?: number;
  /** Called for every CONNECT with the reply sent (for logs). */
  onRequest?(d: Destination, reply: number): void;
}

/** The running switch SOCKS5 server. */
export class SwitchSocks {
  /** Node ID → address table used to resolve domain-name targets. */
  readonly table = new Map<string, string>();
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #port = 0;

  private constructor(readonly opts: SwitchSocksOptions) {
    this.#server = net.createServer((s) => this.#handle(s));
  }

  /** The listening port on 127.0.0.1. */
  get port(): number {
    return this.#port;
  }

  /** `127.0.0.1:<port>`. */
  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  /** Starts listening on 127.0.0.1 (fixed port, or 1080 and up until one is free). */
  static async start(opts: SwitchSocksOptions): Promise<SwitchSocks> {
    const s = new SwitchSocks(opts);
    const first = opts.port ?? opts.firstPort ?? DEFAULT_SOCKS_PORT;
    const last = opts.port ?? first + 100;
    for (let p = first; p <= last; p++) {
      try {
        await s.#listen(p);
        return s;
      } catch (e) {
        if ((e as { code?: string }).code !== "EADDRINUSE" || p === last) {
          throw new Error(`socks: cannot listen on 127.0.0.1:${p}: ${(e as Error).message}`);
        }
      }
    }
    throw new Error("socks: no free port");
  }

  #listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, "127.0.0.1", () => {
        this.#server.off("error", reject);
        this.#port = (this.#server.address() as net.AddressInfo).port;
        resolve();
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
    let dest: Destination;
    let decision: TargetDecision;
    try {
      const [ver, nMethods] = await r.read(2);
      if (ver !== VERSION) throw new Error("bad version");
      if (!(await r.read(nMethods)).includes(METHOD_NONE)) {
        client.end(Buffer.from([VERSION, METHOD_UNACCEPTABLE]));
        return;
      }
      client.write(Buffer.from([VERSION, METHOD_NONE]));
      const [v2, cmd, , atyp] = await r.read(4);
      if (v2 !== VERSION) throw new Error("bad version");
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
      decision = cmd === CMD_CONNECT
        ? checkTarget(this.opts.subnet, this.table, atyp, host)
        : { ok: false, reply: REPLY.COMMAND_NOT_SUPPORTED };
    } catch {
      client.destroy();
      return;
    }
    if (!decision.ok) {
      this.opts.onRequest?.(dest, decision.reply);
      client.end(reply(decision.reply));
      return;
    }
    let upstream: net.Socket;
    try {
      upstream = await tcpConnect({ host: decision.host, port: dest.port });
    } catch (e) {
      const code = replyForError(e);
      this.opts.onRequest?.(dest, code);
      client.end(reply(code));
      return;
    }
    this.opts.onRequest?.(dest, REPLY.SUCCEEDED);
    this.#track(upstream);
    upstream.on("error", () => client.destroy());
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

/**
 * Dials nodes through a SOCKS5 proxy for grpc-js, which only speaks HTTP CONNECT proxies: each
 * distinct target gets one loopback relay (127.0.0.1:<any>) whose connections are tunnelled to
 * the target. Give grpc-js `await dialer.address("10.1.0.2:7835")` as the target (and the node's
 * name via `grpc.ssl_target_name_override` when verifying TLS).
 */
export class NodeDialer {
  readonly #relays = new Map<string, Promise<SocksRelay>>();
  readonly #proxy: Destination;

  /** `proxy` is `host:port` of the SOCKS5 server, e.g. `127.0.0.1:1080`. */
  constructor(proxy: string) {
    this.#proxy = parseHostPort(proxy);
  }

  /** `127.0.0.1:<port>` of the relay to `target` (`host:port`; host may be a node ID). */
  async address(target: string): Promise<string> {
    let r = this.#relays.get(target);
    if (!r) {
      r = startSocksRelay(this.#proxy, parseHostPort(target));
      this.#relays.set(target, r);
      r.catch(() => this.#relays.delete(target));
    }
    return (await r).address;
  }

  /** Closes every relay. */
  async close(): Promise<void> {
    const all = [...this.#relays.values()];
    this.#relays.clear();
    for (const r of all) await (await r.catch(() => undefined))?.close();
  }
}
