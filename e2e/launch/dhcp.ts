/**
 * The switch's DHCP server (testing.md §2.1): UDP 67 on the bridge only (SO_BINDTODEVICE, so
 * launchers on other bridges run their own), launcher MACs → their reserved address, unknown
 * MACs → the lowest free address from `.100`; lease 30 s, renewals keep the address; options:
 * mask 255.255.255.0, router `<prefix>.1`, no DNS server. Replies are broadcast on the bridge.
 *
 * Packets are parsed and the device-bound socket is made with the agent's own DHCP code
 * (node/base/net): node:dgram and Deno.listenDatagram cannot bind to a device.
 *
 * Run as a program (`deno run -A e2e/launch/dhcp.ts <device> <subnet> [mac=addr …]
 * [--lease=<s>] [--dns=<ip>]`) it serves one device until killed, printing one line per reply:
 * the agent's network tests use it as the server on their side of a veth.
 * @module
 */
import { COOKIE, DHCP, type Packet, parsePacket } from "../../node/base/net/dhcp_message.ts";
import { ipv4Bytes, ipv4String } from "../../node/base/net/netlink.ts";
import { DeviceSocket } from "../../node/base/net/udp.ts";
import { parseSubnet, type Subnet } from "./options.ts";

/** Lease time in seconds. */
export const LEASE_SECONDS = 30;
/** First address handed to unknown MACs. */
export const DYNAMIC_START = 100;

/** DHCP message types (option 53), shared with the agent's client. */
export const MSG = DHCP;

const ip = ipv4String;
const ipBytes = (s: string) => [...ipv4Bytes(s)];

/** Settings tests may change; the launcher uses the defaults (testing.md §2.1). */
export interface ServerSettings {
  /** Lease time in seconds (default {@link LEASE_SECONDS}). */
  leaseSeconds?: number;
  /** DNS servers (option 6); default none. */
  dns?: string[];
}

/** Builds a reply (OFFER/ACK/NAK) to `req` giving `yiaddr`, with the server's options. */
export function buildReply(
  req: Packet,
  type: number,
  yiaddr: string,
  server: string,
  settings: ServerSettings = {},
): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(300);
  const dv = new DataView(b.buffer);
  b[0] = 2; // BOOTREPLY
  b[1] = 1;
  b[2] = 6;
  dv.setUint32(4, req.xid);
  dv.setUint16(10, req.flags);
  b.set(ipBytes(yiaddr), 16);
  b.set(ipBytes(type === MSG.NAK ? "0.0.0.0" : server), 20);
  b.set(ipBytes(req.giaddr), 24);
  b.set(req.chaddr.split(":").map((x) => parseInt(x, 16)), 28);
  b.set(COOKIE, 236);
  const opts: number[] = [53, 1, type, 54, 4, ...ipBytes(server)];
  if (type !== MSG.NAK) {
    const secs = settings.leaseSeconds ?? LEASE_SECONDS;
    const lease = [secs >>> 24, (secs >> 16) & 255, (secs >> 8) & 255, secs & 255];
    opts.push(51, 4, ...lease, 1, 4, 255, 255, 255, 0, 3, 4, ...ipBytes(server));
    const dns = settings.dns ?? [];
    if (dns.length) opts.push(6, 4 * dns.length, ...dns.flatMap(ipBytes));
  }
  opts.push(255);
  b.set(opts, 240);
  return b;
}

/** Address bookkeeping: reservations for launcher MACs, 30 s leases for the others. */
export class Leases {
  readonly #leases = new Map<string, { addr: string; until: number }>();

  /** `reserved`: launcher MAC → address. `now` is injectable for tests. */
  constructor(
    readonly subnet: Subnet,
    readonly reserved: Map<string, string>,
    readonly now: () => number = Date.now,
    readonly leaseSeconds: number = LEASE_SECONDS,
  ) {}

  /** The address `mac` gets now (its reservation, its lease, or the lowest free from .100). */
  addressFor(mac: string): string | undefined {
    const r = this.reserved.get(mac);
    if (r) return r;
    const l = this.#leases.get(mac);
    if (l && l.until > this.now()) return l.addr;
    const taken = new Set<string>(this.reserved.values());
    for (const [m, x] of this.#leases) if (m !== mac && x.until > this.now()) taken.add(x.addr);
    for (let h = DYNAMIC_START; h <= 254; h++) {
      const a = `${this.subnet.prefix}.${h}`;
      if (!taken.has(a)) return a;
    }
    return undefined;
  }

  /** Records (or renews) `mac`'s lease of `addr` for the lease time. */
  bind(mac: string, addr: string): void {
    if (this.reserved.get(mac) === addr) return;
    this.#leases.set(mac, { addr, until: this.now() + this.leaseSeconds * 1000 });
  }

  /** Drops `mac`'s lease (DHCPRELEASE). */
  release(mac: string): void {
    this.#leases.delete(mac);
  }
}

/** Decides the reply to one client packet: `[type, address]`, or undefined for none. */
export function answer(
  leases: Leases,
  server: string,
  p: Packet,
): [number, string] | undefined {
  if (p.op !== 1) return undefined;
  const type = p.options.get(53)?.[0];
  const want = leases.addressFor(p.chaddr);
  if (type === MSG.DISCOVER) return want ? [MSG.OFFER, want] : undefined;
  if (type === MSG.REQUEST) {
    const sid = p.options.get(54);
    if (sid && ip(sid, 0) !== server) return undefined; // the client chose another server
    const req50 = p.options.get(50);
    const requested = req50 ? ip(req50, 0) : p.ciaddr;
    if (want && requested === want) {
      leases.bind(p.chaddr, want);
      return [MSG.ACK, want];
    }
    return [MSG.NAK, "0.0.0.0"];
  }
  if (type === MSG.RELEASE) leases.release(p.chaddr);
  return undefined;
}

/** A running DHCP server on one bridge. */
export class DhcpServer {
  #socket?: DeviceSocket;
  readonly #stop = new AbortController();
  #loop?: Promise<void>;

  private constructor(
    readonly bridge: string,
    readonly server: string,
    readonly leases: Leases,
    readonly onReply?: (type: number, mac: string, addr: string) => void,
    readonly settings: ServerSettings = {},
  ) {}

  /**
   * Binds UDP 67 on `bridge` (whose address is `<prefix>.1`) and serves `reserved` (MAC →
   * address) plus dynamic leases. `onReply` sees every reply (for progress lines and tests);
   * `settings` changes lease time and DNS for tests.
   */
  static start(
    bridge: string,
    subnet: Subnet,
    reserved: Map<string, string>,
    onReply?: (type: number, mac: string, addr: string) => void,
    settings: ServerSettings = {},
  ): DhcpServer {
    const leases = new Leases(subnet, reserved, Date.now, settings.leaseSeconds);
    const s = new DhcpServer(bridge, `${subnet.prefix}.1`, leases, onReply, settings);
    try {
      s.#socket = new DeviceSocket(bridge, 67);
    } catch (e) {
      throw new Error(`dhcp: cannot bind UDP 67 on ${bridge}: ${(e as Error).message}`);
    }
    s.#loop = s.#serve(s.#socket);
    return s;
  }

  async #serve(socket: DeviceSocket): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      const d = await socket.receive(1000, signal);
      if (!d) continue; // timeout or stopping
      let p: Packet;
      try {
        p = parsePacket(d.data);
      } catch {
        continue; // not DHCP: ignore
      }
      const a = answer(this.leases, this.server, p);
      if (!a) continue;
      try {
        socket.send(buildReply(p, a[0], a[1], this.server, this.settings), "255.255.255.255", 68);
      } catch {
        continue; // the bridge went away (teardown): the next receive ends the loop
      }
      this.onReply?.(a[0], p.chaddr, a[1]);
    }
  }

  /** Stops serving (promptly: the receive watches the abort) and closes the socket. */
  async close(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    await this.#loop;
    await this.#socket?.close();
  }
}

if (import.meta.main) {
  const [device, subnet, ...rest] = Deno.args;
  const reserved = new Map<string, string>();
  const settings: ServerSettings = { dns: [] };
  for (const a of rest) {
    if (a.startsWith("--lease=")) settings.leaseSeconds = Number(a.slice(8));
    else if (a.startsWith("--dns=")) settings.dns!.push(a.slice(6));
    else reserved.set(a.split("=")[0].toLowerCase(), a.split("=")[1]);
  }
  const names: Record<number, string> = {
    [MSG.OFFER]: "OFFER",
    [MSG.ACK]: "ACK",
    [MSG.NAK]: "NAK",
  };
  const s = DhcpServer.start(device, parseSubnet(subnet), reserved, (t, mac, addr) => {
    console.log(`${names[t] ?? t} ${mac} ${addr}`);
  }, settings);
  console.log(`serving on ${device}`);
  Deno.addSignalListener("SIGTERM", () => s.close().then(() => Deno.exit(0)));
}
