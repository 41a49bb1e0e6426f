/**
 * The switch's SOCKS5 server (testing.md §2.1): RFC 1928, no authentication, CONNECT only
 * (else `0x07`). IPv4 targets must lie in the node subnet and not be `.0`, `.1` or `.255`
 * (else `0x02`); domain names resolve only through the launcher's node ID → address table (else
 * `0x04`); IPv6 → `0x08`; a refused connect → `0x05`. Listens on 127.0.0.1:1080 or the next free
 * port.
 *
 * The protocol, server and client come from node/base/socks; this module adds the switch's
 * target rules ({@link checkTarget}) and the port choice. Dialing nodes through the proxy with grpc-js: {@link NodeDialer} (one loopback relay per
 * target, node/base/socks `startSocksRelay`).
 * @module
 */
import {
  ATYP,
  type Destination,
  parseHostPort,
  REPLY,
  Socks5Server,
  type SocksRelay,
  startSocksRelay,
} from "../../node/base/socks/mod.ts";
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

/** The running switch SOCKS5 server: node/base/socks's server with the switch's target rules. */
export class SwitchSocks {
  /** Node ID → address table used to resolve domain-name targets. */
  readonly table = new Map<string, string>();
  readonly #server: Socks5Server;
  #port = 0;

  private constructor(readonly opts: SwitchSocksOptions) {
    this.#server = new Socks5Server({
      check: (d, atyp) => {
        const r = checkTarget(opts.subnet, this.table, atyp, d.host);
        return r.ok ? { host: r.host } : { reply: r.reply };
      },
      onRequest: opts.onRequest,
    });
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
        s.#port = await s.#server.listen(p, "127.0.0.1");
        return s;
      } catch (e) {
        if ((e as { code?: string }).code !== "EADDRINUSE" || p === last) {
          throw new Error(`socks: cannot listen on 127.0.0.1:${p}: ${(e as Error).message}`);
        }
      }
    }
    throw new Error("socks: no free port");
  }

  /** Stops listening and drops every relayed connection. */
  close(): Promise<void> {
    return this.#server.close();
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
