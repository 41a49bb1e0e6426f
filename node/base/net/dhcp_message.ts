/**
 * DHCPv4 messages (RFC 2131, options RFC 2132), pure: building DISCOVER/REQUEST/RELEASE, parsing
 * any BOOTP/DHCP packet (the launcher's DHCP server parses requests with it too) and turning the
 * server's OFFER/ACK into a {@link Lease}.
 * @module
 */
import { ipv4Bytes, ipv4String } from "./netlink.ts";

/** DHCP message types (option 53). */
export const DHCP = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
} as const;

/** Option codes used here. */
export const OPT = {
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MAX_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  END: 255,
} as const;

/** Vendor class identifier of Metropolis nodes (option 60). */
export const VENDOR_CLASS = "dev.monogon.metropolis.node.v1";

/** The DHCP magic cookie at offset 236. */
export const COOKIE = [0x63, 0x82, 0x53, 0x63];
/** The BROADCAST flag: asks the server to broadcast its answer (we have no address yet). */
const FLAG_BROADCAST = 0x8000;

/** A parsed DHCP packet (the fields a client or a small server needs). */
export interface Packet {
  op: number;
  xid: number;
  /** BOOTP flags (the BROADCAST bit). */
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  /** Relay agent address. */
  giaddr: string;
  /** Client hardware address, lower-case colon hex. */
  chaddr: string;
  options: Map<number, Uint8Array>;
}

/** What a client sends; `ciaddr` only when renewing/rebinding/releasing. */
export interface Request {
  type: number;
  xid: number;
  mac: string;
  /** Seconds since the client began the exchange. */
  secs?: number;
  ciaddr?: string;
  requestedIp?: string;
  serverId?: string;
}

function macBytes(mac: string): number[] {
  const b = mac.split(":").map((x) => parseInt(x, 16));
  if (b.length !== 6 || b.some((x) => !(x >= 0 && x <= 255))) {
    throw new Error(`not a MAC address: ${JSON.stringify(mac)}`);
  }
  return b;
}

/** Encodes a client message with the Metropolis vendor class and our parameter request list. */
export function buildRequest(r: Request): Uint8Array<ArrayBuffer> {
  const mac = macBytes(r.mac);
  const vendor = new TextEncoder().encode(VENDOR_CLASS);
  const opts: number[] = [OPT.MESSAGE_TYPE, 1, r.type, OPT.CLIENT_ID, 7, 1, ...mac];
  if (r.type !== DHCP.RELEASE) {
    opts.push(OPT.VENDOR_CLASS, vendor.length, ...vendor);
    opts.push(OPT.MAX_SIZE, 2, 1500 >> 8, 1500 & 255);
    opts.push(
      OPT.PARAMETER_LIST,
      7,
      OPT.SUBNET_MASK,
      OPT.ROUTER,
      OPT.DNS,
      OPT.LEASE_TIME,
      OPT.SERVER_ID,
      OPT.RENEWAL_TIME,
      OPT.REBINDING_TIME,
    );
  }
  if (r.requestedIp) opts.push(OPT.REQUESTED_IP, 4, ...ipv4Bytes(r.requestedIp));
  if (r.serverId) opts.push(OPT.SERVER_ID, 4, ...ipv4Bytes(r.serverId));
  opts.push(OPT.END);
  // ≥ 300 bytes: some BOOTP relays drop shorter packets.
  const b = new Uint8Array(Math.max(300, 240 + opts.length));
  const dv = new DataView(b.buffer);
  b[0] = 1; // BOOTREQUEST
  b[1] = 1; // Ethernet
  b[2] = 6;
  dv.setUint32(4, r.xid);
  dv.setUint16(8, Math.min(r.secs ?? 0, 0xffff));
  // Renewing clients can receive unicast; everyone else asks for a broadcast answer.
  dv.setUint16(10, r.ciaddr ? 0 : FLAG_BROADCAST);
  if (r.ciaddr) b.set(ipv4Bytes(r.ciaddr), 12);
  b.set(mac, 28);
  b.set(COOKIE, 236);
  b.set(opts, 240);
  return b;
}

/** Parses a BOOTP/DHCP packet; throws on anything malformed. */
export function parsePacket(b: Uint8Array): Packet {
  if (b.length < 240) throw new Error(`dhcp: packet of ${b.length} bytes is too short`);
  if (COOKIE.some((c, i) => b[236 + i] !== c)) throw new Error("dhcp: no magic cookie");
  if (b[1] !== 1 || b[2] !== 6) throw new Error("dhcp: not Ethernet");
  const options = new Map<number, Uint8Array>();
  for (let o = 240; o < b.length;) {
    const code = b[o];
    if (code === OPT.END) break;
    if (code === 0) {
      o++;
      continue;
    }
    const len = b[o + 1];
    if (o + 2 + len > b.length) throw new Error(`dhcp: option ${code} overruns the packet`);
    // RFC 3396: a repeated option continues the earlier one.
    const prev = options.get(code);
    const v = b.slice(o + 2, o + 2 + len);
    options.set(code, prev ? new Uint8Array([...prev, ...v]) : v);
    o += 2 + len;
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    op: b[0],
    xid: dv.getUint32(4),
    flags: dv.getUint16(10),
    ciaddr: ipv4String(b, 12),
    yiaddr: ipv4String(b, 16),
    siaddr: ipv4String(b, 20),
    giaddr: ipv4String(b, 24),
    chaddr: [...b.subarray(28, 34)].map((x) => x.toString(16).padStart(2, "0")).join(":"),
    options,
  };
}

/** The message type (option 53) of a packet, or 0. */
export function messageType(p: Packet): number {
  return p.options.get(OPT.MESSAGE_TYPE)?.[0] ?? 0;
}

/** A lease as offered or acknowledged. Times in seconds, relative to when it was received. */
export interface Lease {
  address: string;
  prefixLen: number;
  serverId: string;
  routers: string[];
  dns: string[];
  leaseSeconds: number;
  /** Renewal time T1 (default ½ lease). */
  t1: number;
  /** Rebinding time T2 (default ⅞ lease). */
  t2: number;
}

function ipList(b: Uint8Array | undefined): string[] {
  const out: string[] = [];
  for (let o = 0; b && o + 4 <= b.length; o += 4) out.push(ipv4String(b, o));
  return out;
}

function u32(b: Uint8Array | undefined): number | undefined {
  return b && b.length === 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0) : undefined;
}

/** Prefix length of a dotted netmask; throws when it is not contiguous. */
export function prefixLength(mask: string): number {
  const n = new DataView(ipv4Bytes(mask).buffer).getUint32(0);
  const len = Math.clz32(~n >>> 0); // leading ones of the mask
  if ((len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0) !== n) {
    throw new Error(`dhcp: netmask ${mask} is not contiguous`);
  }
  return len;
}

/** Natural (classful) prefix of an address, for servers that send no netmask. */
function classfulPrefix(addr: string): number {
  const first = Number(addr.split(".")[0]);
  return first < 128 ? 8 : first < 192 ? 16 : 24;
}

/** Extracts the lease from an OFFER or ACK; throws when it lacks what a lease needs. */
export function leaseOf(p: Packet): Lease {
  if (p.yiaddr === "0.0.0.0") throw new Error("dhcp: no address in the answer");
  const serverId = p.options.get(OPT.SERVER_ID);
  const mask = p.options.get(OPT.SUBNET_MASK);
  // RFC 2131: an absent lease time in an answer to DISCOVER/REQUEST is a protocol error; be
  // lenient and treat it as an hour.
  const leaseSeconds = u32(p.options.get(OPT.LEASE_TIME)) ?? 3600;
  const t1 = u32(p.options.get(OPT.RENEWAL_TIME)) ?? Math.floor(leaseSeconds / 2);
  const t2 = u32(p.options.get(OPT.REBINDING_TIME)) ?? Math.floor(leaseSeconds * 7 / 8);
  return {
    address: p.yiaddr,
    prefixLen: mask && mask.length === 4
      ? prefixLength(ipv4String(mask))
      : classfulPrefix(p.yiaddr),
    serverId: serverId && serverId.length === 4 ? ipv4String(serverId) : p.siaddr,
    routers: ipList(p.options.get(OPT.ROUTER)),
    dns: ipList(p.options.get(OPT.DNS)),
    leaseSeconds,
    t1: Math.min(t1, leaseSeconds),
    t2: Math.min(Math.max(t2, t1), leaseSeconds),
  };
}
