/**
 * The switch's DHCP server (testing.md §2.1): UDP 67 on the bridge only (SO_BINDTODEVICE, so
 * launchers on other bridges run their own), launcher MACs → their reserved address, unknown
 * MACs → the lowest free address from `.100`; lease 30 s, renewals keep the address; options:
 * mask 255.255.255.0, router `<prefix>.1`, no DNS server. Replies are broadcast on the bridge.
 *
 * node:dgram and Deno.listenDatagram cannot bind to a device, so the socket is made through libc
 * FFI; recvfrom runs on FFI's worker thread with a 200 ms receive timeout so close() is prompt.
 *
 * Run as a program (`deno run -A e2e/launch/dhcp.ts <device> <subnet> [mac=addr …]
 * [--lease=<s>] [--dns=<ip>]`) it serves one device until killed, printing one line per reply:
 * the agent's network tests use it as the server on their side of a veth.
 * @module
 */
import { parseSubnet, type Subnet } from "./options.ts";

/** Lease time in seconds. */
export const LEASE_SECONDS = 30;
/** First address handed to unknown MACs. */
export const DYNAMIC_START = 100;

/** DHCP message types (option 53). */
export const MSG = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

const COOKIE = [0x63, 0x82, 0x53, 0x63];

/** The fields of a DHCP packet the server uses. */
export interface DhcpPacket {
  op: number;
  xid: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  giaddr: string;
  /** Client MAC, lower-case colon hex. */
  mac: string;
  /** Option code → value bytes. */
  options: Map<number, Uint8Array>;
}

const ip = (b: Uint8Array, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const ipBytes = (s: string) => s.split(".").map(Number);

/** Parses a BOOTP/DHCP packet; throws on anything malformed. */
export function parseDhcp(b: Uint8Array): DhcpPacket {
  if (b.length < 240) throw new Error(`dhcp: packet of ${b.length} bytes is too short`);
  if (COOKIE.some((c, i) => b[236 + i] !== c)) throw new Error("dhcp: no magic cookie");
  if (b[1] !== 1 || b[2] !== 6) throw new Error("dhcp: not Ethernet");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const options = new Map<number, Uint8Array>();
  for (let o = 240; o < b.length;) {
    const code = b[o];
    if (code === 255) break;
    if (code === 0) {
      o++;
      continue;
    }
    const len = b[o + 1];
    if (o + 2 + len > b.length) throw new Error(`dhcp: option ${code} overruns the packet`);
    options.set(code, b.slice(o + 2, o + 2 + len));
    o += 2 + len;
  }
  return {
    op: b[0],
    xid: dv.getUint32(4),
    flags: dv.getUint16(10),
    ciaddr: ip(b, 12),
    yiaddr: ip(b, 16),
    giaddr: ip(b, 24),
    mac: [...b.subarray(28, 34)].map((x) => x.toString(16).padStart(2, "0")).join(":"),
    options,
  };
}

/** Settings tests may change; the launcher uses the defaults (testing.md §2.1). */
export interface ServerSettings {
  /** Lease time in seconds (default {@link LEASE_SECONDS}). */
  leaseSeconds?: number;
  /** DNS servers (option 6); default none. */
  dns?: string[];
}

/** Builds a reply (OFFER/ACK/NAK) to `req` giving `yiaddr`, with the server's options. */
export function buildReply(
  req: DhcpPacket,
  type: number,
  yiaddr: string,
  server: string,
  settings: ServerSettings = {},
): Uint8Array {
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
  b.set(req.mac.split(":").map((x) => parseInt(x, 16)), 28);
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
  p: DhcpPacket,
): [number, string] | undefined {
  if (p.op !== 1) return undefined;
  const type = p.options.get(53)?.[0];
  const want = leases.addressFor(p.mac);
  if (type === MSG.DISCOVER) return want ? [MSG.OFFER, want] : undefined;
  if (type === MSG.REQUEST) {
    const sid = p.options.get(54);
    if (sid && ip(sid, 0) !== server) return undefined; // the client chose another server
    const req50 = p.options.get(50);
    const requested = req50 ? ip(req50, 0) : p.ciaddr;
    if (want && requested === want) {
      leases.bind(p.mac, want);
      return [MSG.ACK, want];
    }
    return [MSG.NAK, "0.0.0.0"];
  }
  if (type === MSG.RELEASE) leases.release(p.mac);
  return undefined;
}

const AF_INET = 2, SOCK_DGRAM = 2, SOL_SOCKET = 1;
const SO_REUSEADDR = 2, SO_BROADCAST = 6, SO_RCVTIMEO = 20, SO_BINDTODEVICE = 25;

function libc() {
  return Deno.dlopen("libc.so.6", {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
    bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    recvfrom: {
      parameters: ["i32", "buffer", "usize", "i32", "pointer", "pointer"],
      result: "isize",
      nonblocking: true,
    },
    sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
  });
}

function sockaddr(addr: string, port: number): Uint8Array {
  const b = new Uint8Array(16);
  b[0] = AF_INET;
  b[2] = port >> 8;
  b[3] = port & 255;
  b.set(ipBytes(addr), 4);
  return b;
}

/** A running DHCP server on one bridge. */
export class DhcpServer {
  readonly #lib = libc();
  #fd = -1;
  #closed = false;
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
    s.#open();
    s.#loop = s.#serve();
    return s;
  }

  #open() {
    const l = this.#lib.symbols;
    const fd = l.socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) throw new Error("dhcp: socket() failed");
    this.#fd = fd;
    const one = new Uint8Array(new Int32Array([1]).buffer);
    const tv = new Uint8Array(new BigInt64Array([0n, 200_000n]).buffer); // 200 ms
    const dev = new TextEncoder().encode(this.bridge + "\0");
    const ok = l.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4) === 0 &&
      l.setsockopt(fd, SOL_SOCKET, SO_BROADCAST, one, 4) === 0 &&
      l.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) === 0 &&
      l.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, dev.length) === 0 &&
      l.bind(fd, sockaddr("0.0.0.0", 67), 16) === 0;
    if (!ok) {
      l.close(fd);
      this.#fd = -1;
      throw new Error(`dhcp: cannot bind UDP 67 on ${this.bridge}`);
    }
  }

  async #serve(): Promise<void> {
    const buf = new Uint8Array(1500);
    while (!this.#closed) {
      const n = Number(await this.#lib.symbols.recvfrom(this.#fd, buf, 1500n, 0, null, null));
      if (this.#closed) break;
      if (n <= 0) continue; // timeout (EAGAIN) or nothing
      let p: DhcpPacket;
      try {
        p = parseDhcp(buf.slice(0, n));
      } catch {
        continue; // not DHCP: ignore
      }
      const a = answer(this.leases, this.server, p);
      if (!a) continue;
      const reply = buildReply(p, a[0], a[1], this.server, this.settings);
      this.#lib.symbols.sendto(
        this.#fd,
        reply,
        BigInt(reply.length),
        0,
        sockaddr("255.255.255.255", 68),
        16,
      );
      this.onReply?.(a[0], p.mac, a[1]);
    }
  }

  /** Stops serving (within the 200 ms receive timeout) and closes the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#loop;
    this.#lib.symbols.close(this.#fd);
    this.#lib.close();
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
