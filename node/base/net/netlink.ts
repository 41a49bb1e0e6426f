/**
 * rtnetlink message encoding and decoding (pure, no I/O): `nlmsghdr` + the fixed family header
 * (`ifinfomsg`, `ifaddrmsg`, `rtmsg`) + `rtattr` attributes, all in host byte order (x86_64:
 * little-endian), 4-byte aligned, as in `<linux/netlink.h>` and `<linux/rtnetlink.h>`.
 * @module
 */

/** Message types. */
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
} as const;

/** Control message types. */
export const NLMSG = { ERROR: 2, DONE: 3 } as const;

/** Header flags. */
export const NLM_F = {
  REQUEST: 0x1,
  ACK: 0x4,
  ROOT: 0x100,
  MATCH: 0x200,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
} as const;

/** Link flags (`ifi_flags`). */
export const IFF = { UP: 0x1, LOOPBACK: 0x8, LOWER_UP: 0x10000 } as const;

/** Link attributes. */
export const IFLA = { ADDRESS: 1, IFNAME: 3, MTU: 4, LINKINFO: 18 } as const;
/** Nested in IFLA_LINKINFO. */
export const IFLA_INFO_KIND = 1;
/** `nla_type` bit marking an attribute whose payload is nested attributes. */
export const NLA_F_NESTED = 0x8000;
/** Address attributes. */
export const IFA = { ADDRESS: 1, LOCAL: 2, BROADCAST: 4 } as const;
/** Route attributes. */
export const RTA = { DST: 1, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7 } as const;

/** Route protocol: who installed it (`rtm_protocol`). */
export const RTPROT = { STATIC: 4, DHCP: 16 } as const;
/** Route scopes. */
export const RT_SCOPE = { UNIVERSE: 0, LINK: 253, HOST: 254 } as const;
/** The main routing table. */
export const RT_TABLE_MAIN = 254;
/** Unicast route type. */
export const RTN_UNICAST = 1;

/** ARPHRD_ETHER: Ethernet link type (`ifi_type`). */
export const ARPHRD_ETHER = 1;

const AF_INET = 2;
const NLMSG_HDRLEN = 16;

const align4 = (n: number) => (n + 3) & ~3;

/** Parses dotted IPv4 text into 4 bytes; throws on anything else. */
export function ipv4Bytes(s: string): Uint8Array {
  const parts = s.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`not an IPv4 address: ${JSON.stringify(s)}`);
  }
  return new Uint8Array(parts.map(Number));
}

/** Formats 4 bytes as dotted IPv4 text. */
export function ipv4String(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** One `rtattr`: type + payload (nested attributes are just encoded payloads). */
export interface Attr {
  type: number;
  data: Uint8Array;
}

/** A u32 attribute payload (host order). */
export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

/** Encodes a run of `rtattr`/`nlattr`s (each 4-byte aligned); nest by encoding into `data`. */
export function encodeAttrs(attrs: Attr[]): Uint8Array {
  const len = attrs.reduce((n, a) => n + align4(4 + a.data.length), 0);
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  let o = 0;
  for (const a of attrs) {
    dv.setUint16(o, 4 + a.data.length, true);
    dv.setUint16(o + 2, a.type, true);
    b.set(a.data, o + 4);
    o += align4(4 + a.data.length);
  }
  return b;
}

/**
 * Decodes a run of `rtattr`s in order, repeats included (nested lists such as WireGuard's peers
 * are runs of same-typed attributes); the nested and byte-order flag bits are masked off.
 */
export function decodeAttrList(b: Uint8Array): Attr[] {
  const out: Attr[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let o = 0; o + 4 <= b.length;) {
    const len = dv.getUint16(o, true);
    if (len < 4 || o + len > b.length) break;
    out.push({ type: dv.getUint16(o + 2, true) & 0x3fff, data: b.subarray(o + 4, o + len) });
    o += align4(len);
  }
  return out;
}

/** Decodes a run of `rtattr`s into type → payload (the nested flag bit is masked off). */
export function decodeAttrs(b: Uint8Array): Map<number, Uint8Array> {
  return new Map(decodeAttrList(b).map((a) => [a.type, a.data]));
}

/** Builds one netlink message: header, fixed family header `body`, attributes. */
export function buildMessage(
  type: number,
  flags: number,
  seq: number,
  body: Uint8Array,
  attrs: Attr[] = [],
): Uint8Array {
  const a = encodeAttrs(attrs);
  const len = NLMSG_HDRLEN + align4(body.length) + a.length;
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  dv.setUint32(8, seq, true);
  dv.setUint32(12, 0, true); // port ID 0: the kernel
  b.set(body, NLMSG_HDRLEN);
  b.set(a, NLMSG_HDRLEN + align4(body.length));
  return b;
}

/** `ifinfomsg`: family, type, index, flags, change mask. */
export function ifinfomsg(index: number, flags = 0, change = 0): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setInt32(4, index, true);
  dv.setUint32(8, flags, true);
  dv.setUint32(12, change, true);
  return b;
}

/** `ifaddrmsg` for IPv4: prefix length, scope, interface index. */
export function ifaddrmsg(prefixLen: number, index: number, scope = RT_SCOPE.UNIVERSE): Uint8Array {
  const b = new Uint8Array(8);
  b[0] = AF_INET;
  b[1] = prefixLen;
  b[3] = scope;
  new DataView(b.buffer).setUint32(4, index, true);
  return b;
}

/** `rtmsg` for an IPv4 unicast route in the main table. */
export function rtmsg(dstLen: number, protocol: number, scope: number): Uint8Array {
  const b = new Uint8Array(12);
  b[0] = AF_INET;
  b[1] = dstLen;
  b[4] = RT_TABLE_MAIN;
  b[5] = protocol;
  b[6] = scope;
  b[7] = RTN_UNICAST;
  return b;
}

/** What {@link linkSetMessage} changes; absent fields stay as they are. */
export interface LinkChange {
  up?: boolean;
  name?: string;
  mtu?: number;
}

/** `RTM_NEWLINK` on an existing link: IFF_UP (via the change mask), name, MTU. */
export function linkSetMessage(seq: number, index: number, c: LinkChange): Uint8Array {
  const attrs: Attr[] = [];
  if (c.name !== undefined) {
    attrs.push({ type: IFLA.IFNAME, data: new TextEncoder().encode(c.name + "\0") });
  }
  if (c.mtu !== undefined) attrs.push({ type: IFLA.MTU, data: u32(c.mtu) });
  const change = c.up === undefined ? 0 : IFF.UP;
  return buildMessage(
    RTM.NEWLINK,
    NLM_F.REQUEST | NLM_F.ACK,
    seq,
    ifinfomsg(index, c.up ? IFF.UP : 0, change),
    attrs,
  );
}

/**
 * `RTM_NEWLINK` creating a virtual link `name` of `kind` (IFLA_LINKINFO/IFLA_INFO_KIND, e.g.
 * "wireguard"); EXCL so that an existing link of that name is an error (`EEXIST`), not reused
 * with whatever configuration it has.
 */
export function linkAddMessage(seq: number, name: string, kind: string, mtu?: number): Uint8Array {
  const enc = new TextEncoder();
  const attrs: Attr[] = [{ type: IFLA.IFNAME, data: enc.encode(name + "\0") }];
  if (mtu !== undefined) attrs.push({ type: IFLA.MTU, data: u32(mtu) });
  attrs.push({
    type: IFLA.LINKINFO | NLA_F_NESTED,
    data: encodeAttrs([{ type: IFLA_INFO_KIND, data: enc.encode(kind) }]),
  });
  return buildMessage(
    RTM.NEWLINK,
    NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL,
    seq,
    ifinfomsg(0),
    attrs,
  );
}

/** `RTM_DELLINK` of link `index`. */
export function linkDelMessage(seq: number, index: number): Uint8Array {
  return buildMessage(RTM.DELLINK, NLM_F.REQUEST | NLM_F.ACK, seq, ifinfomsg(index));
}

/** Sets a link's IFF_UP flag. */
export function linkUpMessage(seq: number, index: number): Uint8Array {
  return linkSetMessage(seq, index, { up: true });
}

/** Broadcast address of `addr/prefixLen`. */
export function broadcastOf(addr: string, prefixLen: number): string {
  const a = ipv4Bytes(addr);
  const n = new DataView(a.buffer).getUint32(0);
  const host = prefixLen >= 32 ? 0 : (0xffffffff >>> prefixLen);
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, (n | host) >>> 0);
  return ipv4String(out);
}

/**
 * Adds (or, `replace`, replaces) an IPv4 address with its broadcast address; `RTM_DELADDR` when
 * `del`.
 */
export function addrMessage(
  seq: number,
  index: number,
  addr: string,
  prefixLen: number,
  op: "add" | "replace" | "del",
): Uint8Array {
  const a = ipv4Bytes(addr);
  const attrs: Attr[] = [{ type: IFA.LOCAL, data: a }, { type: IFA.ADDRESS, data: a }];
  if (op !== "del" && prefixLen < 31) {
    attrs.push({ type: IFA.BROADCAST, data: ipv4Bytes(broadcastOf(addr, prefixLen)) });
  }
  const flags = NLM_F.REQUEST | NLM_F.ACK |
    (op === "add"
      ? NLM_F.CREATE | NLM_F.EXCL
      : op === "replace"
      ? NLM_F.CREATE | NLM_F.REPLACE
      : 0);
  return buildMessage(
    op === "del" ? RTM.DELADDR : RTM.NEWADDR,
    flags,
    seq,
    ifaddrmsg(prefixLen, index),
    attrs,
  );
}

/** An IPv4 route: `dst/dstLen` via `gateway` (absent: directly connected) out of `oif`. */
export interface Route {
  dst: string;
  dstLen: number;
  gateway?: string;
  oif: number;
  metric?: number;
  prefsrc?: string;
  protocol: number;
}

/** Adds or replaces (`RTM_NEWROUTE`, CREATE|REPLACE) or deletes (`RTM_DELROUTE`) a route. */
export function routeMessage(seq: number, r: Route, op: "replace" | "del"): Uint8Array {
  const attrs: Attr[] = [];
  if (r.dstLen > 0) attrs.push({ type: RTA.DST, data: ipv4Bytes(r.dst) });
  if (r.gateway) attrs.push({ type: RTA.GATEWAY, data: ipv4Bytes(r.gateway) });
  attrs.push({ type: RTA.OIF, data: u32(r.oif) });
  if (r.metric) attrs.push({ type: RTA.PRIORITY, data: u32(r.metric) });
  if (r.prefsrc) attrs.push({ type: RTA.PREFSRC, data: ipv4Bytes(r.prefsrc) });
  const scope = r.gateway ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK;
  return buildMessage(
    op === "del" ? RTM.DELROUTE : RTM.NEWROUTE,
    NLM_F.REQUEST | NLM_F.ACK | (op === "del" ? 0 : NLM_F.CREATE | NLM_F.REPLACE),
    seq,
    rtmsg(r.dstLen, r.protocol, scope),
    attrs,
  );
}

/** `RTM_GETLINK` dump request. */
export function linkDumpMessage(seq: number): Uint8Array {
  return buildMessage(RTM.GETLINK, NLM_F.REQUEST | NLM_F.DUMP, seq, ifinfomsg(0));
}

/** `RTM_GETADDR` dump request for IPv4. */
export function addrDumpMessage(seq: number): Uint8Array {
  const body = new Uint8Array(8);
  body[0] = AF_INET;
  return buildMessage(RTM.GETADDR, NLM_F.REQUEST | NLM_F.DUMP, seq, body);
}

/** One received netlink message. */
export interface Received {
  type: number;
  flags: number;
  seq: number;
  /** Everything after the 16-byte header. */
  payload: Uint8Array;
}

/** Splits a datagram into its netlink messages. */
export function splitMessages(b: Uint8Array): Received[] {
  const out: Received[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let o = 0; o + NLMSG_HDRLEN <= b.length;) {
    const len = dv.getUint32(o, true);
    if (len < NLMSG_HDRLEN || o + len > b.length) break;
    out.push({
      type: dv.getUint16(o + 4, true),
      flags: dv.getUint16(o + 6, true),
      seq: dv.getUint32(o + 8, true),
      payload: b.subarray(o + NLMSG_HDRLEN, o + len),
    });
    o += align4(len);
  }
  return out;
}

/** The (positive) errno of an `NLMSG_ERROR` payload; 0 is an ACK. */
export function errorCode(payload: Uint8Array): number {
  return -new DataView(payload.buffer, payload.byteOffset, 4).getInt32(0, true);
}

/** A link from an `RTM_NEWLINK` dump entry. */
export interface Link {
  index: number;
  name: string;
  /** ARPHRD type (1 = Ethernet, 772 = loopback). */
  type: number;
  flags: number;
  /** Lower-case colon hex; "" when the link has none. */
  mac: string;
  /** IFLA_INFO_KIND ("veth", "bridge", …); "" for physical devices. */
  kind: string;
}

const dec = new TextDecoder();
const cstring = (b: Uint8Array) =>
  dec.decode(b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)));

/** Parses an `RTM_NEWLINK` payload. */
export function parseLink(p: Uint8Array): Link {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const attrs = decodeAttrs(p.subarray(16));
  const mac = attrs.get(IFLA.ADDRESS);
  const info = attrs.get(IFLA.LINKINFO);
  const kind = info && decodeAttrs(info).get(IFLA_INFO_KIND);
  return {
    index: dv.getInt32(4, true),
    type: dv.getUint16(2, true),
    flags: dv.getUint32(8, true),
    name: cstring(attrs.get(IFLA.IFNAME) ?? new Uint8Array()),
    mac: mac ? [...mac].map((x) => x.toString(16).padStart(2, "0")).join(":") : "",
    kind: kind ? cstring(kind) : "",
  };
}

/** An IPv4 address from an `RTM_NEWADDR` dump entry. */
export interface Address {
  index: number;
  address: string;
  prefixLen: number;
}

/** Parses an `RTM_NEWADDR` payload (IPv4 only; others → undefined). */
export function parseAddress(p: Uint8Array): Address | undefined {
  if (p[0] !== AF_INET) return undefined;
  const attrs = decodeAttrs(p.subarray(8));
  const local = attrs.get(IFA.LOCAL) ?? attrs.get(IFA.ADDRESS);
  if (!local) return undefined;
  return {
    index: new DataView(p.buffer, p.byteOffset, 8).getUint32(4, true),
    address: ipv4String(local),
    prefixLen: p[1],
  };
}
