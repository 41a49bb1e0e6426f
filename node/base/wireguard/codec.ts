/**
 * The WireGuard generic netlink protocol (`<linux/wireguard.h>`, family "wireguard", version 1)
 * as pure functions: `WG_CMD_SET_DEVICE` requests and `WG_CMD_GET_DEVICE` dump replies. Keys are
 * base64 text (the form WireGuard tools and the curator use), addresses dotted IPv4; only IPv4
 * endpoints and allowed IPs are produced (the cluster is IPv4-only), IPv6 ones are read back in
 * text form so that a diff still sees them.
 * @module
 */
import {
  type Attr,
  decodeAttrList,
  decodeAttrs,
  encodeAttrs,
  ipv4Bytes,
  ipv4String,
  NLA_F_NESTED,
  NLM_F,
  u32,
} from "../net/netlink.ts";
import { GENL_HDRLEN, genlMessage } from "./genl.ts";

/** Family name and version. */
export const WG_GENL_NAME = "wireguard";
export const WG_GENL_VERSION = 1;
/** Commands. */
export const WG_CMD = { GET_DEVICE: 0, SET_DEVICE: 1 } as const;
/** Device attributes (`enum wgdevice_attribute`). */
export const WGDEVICE_A = {
  IFINDEX: 1,
  IFNAME: 2,
  PRIVATE_KEY: 3,
  PUBLIC_KEY: 4,
  FLAGS: 5,
  LISTEN_PORT: 6,
  FWMARK: 7,
  PEERS: 8,
} as const;
/** Device flags: drop every peer not in this request. */
export const WGDEVICE_F_REPLACE_PEERS = 1;
/** Peer attributes (`enum wgpeer_attribute`). */
export const WGPEER_A = {
  PUBLIC_KEY: 1,
  PRESHARED_KEY: 2,
  FLAGS: 3,
  ENDPOINT: 4,
  PERSISTENT_KEEPALIVE_INTERVAL: 5,
  LAST_HANDSHAKE_TIME: 6,
  RX_BYTES: 7,
  TX_BYTES: 8,
  ALLOWEDIPS: 9,
  PROTOCOL_VERSION: 10,
} as const;
/** Peer flags. */
export const WGPEER_F = { REMOVE_ME: 1, REPLACE_ALLOWEDIPS: 2, UPDATE_ONLY: 4 } as const;
/** Allowed-IP attributes. */
export const WGALLOWEDIP_A = { FAMILY: 1, IPADDR: 2, CIDR_MASK: 3 } as const;

const AF_INET = 2, AF_INET6 = 10;
const KEY_LEN = 32;

/** The 32 bytes of a base64 key; throws unless it is exactly that. */
export function keyBytes(b64: string): Uint8Array {
  let b: Uint8Array;
  try {
    b = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  } catch {
    throw new Error("WireGuard key is not base64");
  }
  if (b.length !== KEY_LEN) throw new Error(`WireGuard key has ${b.length} bytes, not 32`);
  return b;
}

/** Base64 text of key bytes. */
export function keyText(b: Uint8Array): string {
  return btoa(String.fromCharCode(...b));
}

/** A peer change in {@link DeviceConfig}. */
export interface PeerConfig {
  publicKey: string;
  /** Removes the peer; everything else is then ignored. */
  remove?: boolean;
  /** `a.b.c.d:port`. */
  endpoint?: string;
  /** IPv4 CIDRs. */
  allowedIps?: string[];
  /** Replace the peer's allowed IPs by {@link allowedIps} instead of adding to them. */
  replaceAllowedIps?: boolean;
}

/** A `WG_CMD_SET_DEVICE` request; absent fields stay as they are. */
export interface DeviceConfig {
  ifname: string;
  privateKey?: string;
  listenPort?: number;
  replacePeers?: boolean;
  peers?: PeerConfig[];
}

const nested = (type: number, attrs: Attr[]): Attr => ({
  type: type | NLA_F_NESTED,
  data: encodeAttrs(attrs),
});

function u16(v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, true);
  return b;
}

/** `sockaddr_in` of `a.b.c.d:port` (port in network byte order, 8 bytes of zero padding). */
export function sockaddrIn(endpoint: string): Uint8Array {
  const m = /^(.+):(\d{1,5})$/.exec(endpoint);
  if (!m || Number(m[2]) > 65535) throw new Error(`not an IPv4 endpoint: ${endpoint}`);
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_INET, true);
  dv.setUint16(2, Number(m[2]), false);
  b.set(ipv4Bytes(m[1]), 4);
  return b;
}

function allowedIp(cidr: string): Attr {
  const [addr, bits, ...rest] = cidr.split("/");
  if (rest.length || !/^\d{1,2}$/.test(bits ?? "") || Number(bits) > 32) {
    throw new Error(`not an IPv4 CIDR: ${cidr}`);
  }
  return nested(0, [
    { type: WGALLOWEDIP_A.FAMILY, data: u16(AF_INET) },
    { type: WGALLOWEDIP_A.IPADDR, data: ipv4Bytes(addr) },
    { type: WGALLOWEDIP_A.CIDR_MASK, data: new Uint8Array([Number(bits)]) },
  ]);
}

function peerAttrs(p: PeerConfig): Attr {
  const attrs: Attr[] = [{ type: WGPEER_A.PUBLIC_KEY, data: keyBytes(p.publicKey) }];
  if (p.remove) {
    attrs.push({ type: WGPEER_A.FLAGS, data: u32(WGPEER_F.REMOVE_ME) });
    return nested(0, attrs);
  }
  if (p.replaceAllowedIps) {
    attrs.push({ type: WGPEER_A.FLAGS, data: u32(WGPEER_F.REPLACE_ALLOWEDIPS) });
  }
  if (p.endpoint) attrs.push({ type: WGPEER_A.ENDPOINT, data: sockaddrIn(p.endpoint) });
  if (p.allowedIps) attrs.push(nested(WGPEER_A.ALLOWEDIPS, p.allowedIps.map(allowedIp)));
  return nested(0, attrs);
}

/** `WG_CMD_SET_DEVICE` for family `family` (the ID the controller resolved). */
export function setDeviceMessage(seq: number, family: number, c: DeviceConfig): Uint8Array {
  const attrs: Attr[] = [{
    type: WGDEVICE_A.IFNAME,
    data: new TextEncoder().encode(c.ifname + "\0"),
  }];
  if (c.privateKey !== undefined) {
    attrs.push({ type: WGDEVICE_A.PRIVATE_KEY, data: keyBytes(c.privateKey) });
  }
  if (c.listenPort !== undefined) {
    attrs.push({ type: WGDEVICE_A.LISTEN_PORT, data: u16(c.listenPort) });
  }
  if (c.replacePeers) attrs.push({ type: WGDEVICE_A.FLAGS, data: u32(WGDEVICE_F_REPLACE_PEERS) });
  if (c.peers?.length) attrs.push(nested(WGDEVICE_A.PEERS, c.peers.map(peerAttrs)));
  return genlMessage(
    family,
    NLM_F.REQUEST | NLM_F.ACK,
    seq,
    WG_CMD.SET_DEVICE,
    WG_GENL_VERSION,
    attrs,
  );
}

/** `WG_CMD_GET_DEVICE` of `ifname` (a dump: the kernel only implements it as one). */
export function getDeviceMessage(seq: number, family: number, ifname: string): Uint8Array {
  return genlMessage(
    family,
    NLM_F.REQUEST | NLM_F.DUMP,
    seq,
    WG_CMD.GET_DEVICE,
    WG_GENL_VERSION,
    [{ type: WGDEVICE_A.IFNAME, data: new TextEncoder().encode(ifname + "\0") }],
  );
}

/** A peer as the kernel reports it. */
export interface PeerState {
  publicKey: string;
  /** `a.b.c.d:port`, `[v6]:port`, or "" when none is known yet. */
  endpoint: string;
  /** CIDRs in the kernel's order. */
  allowedIps: string[];
  /** Seconds since the epoch of the last handshake; 0 for never. */
  lastHandshake: number;
  rxBytes: number;
  txBytes: number;
}

/** A device as the kernel reports it (the private key is deliberately not carried). */
export interface DeviceState {
  ifindex: number;
  ifname: string;
  /** "" when no private key is set. */
  publicKey: string;
  listenPort: number;
  peers: PeerState[];
}

const dec = new TextDecoder();
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function ipText(family: number, b: Uint8Array): string {
  if (family === AF_INET && b.length >= 4) return ipv4String(b);
  const words: string[] = [];
  for (let i = 0; i + 1 < b.length && i < 16; i += 2) words.push(view(b).getUint16(i).toString(16));
  return words.join(":");
}

/** Text of a `sockaddr_in`/`sockaddr_in6`; "" for anything else. */
export function endpointText(b: Uint8Array): string {
  if (b.length < 4) return "";
  const family = view(b).getUint16(0, true);
  const port = view(b).getUint16(2, false);
  if (family === AF_INET && b.length >= 8) return `${ipv4String(b, 4)}:${port}`;
  if (family === AF_INET6 && b.length >= 24) {
    return `[${ipText(family, b.subarray(8, 24))}]:${port}`;
  }
  return "";
}

function parseAllowedIp(b: Uint8Array): string | undefined {
  const a = decodeAttrs(b);
  const family = a.get(WGALLOWEDIP_A.FAMILY);
  const ip = a.get(WGALLOWEDIP_A.IPADDR);
  const mask = a.get(WGALLOWEDIP_A.CIDR_MASK);
  if (!family || !ip || !mask) return undefined;
  return `${ipText(view(family).getUint16(0, true), ip)}/${mask[0]}`;
}

function u64(b: Uint8Array | undefined): number {
  return b && b.length >= 8 ? Number(view(b).getBigUint64(0, true)) : 0;
}

function parsePeer(b: Uint8Array): PeerState | undefined {
  const a = decodeAttrs(b);
  const key = a.get(WGPEER_A.PUBLIC_KEY);
  if (!key || key.length !== KEY_LEN) return undefined;
  const ips = a.get(WGPEER_A.ALLOWEDIPS);
  return {
    publicKey: keyText(key),
    endpoint: endpointText(a.get(WGPEER_A.ENDPOINT) ?? new Uint8Array()),
    allowedIps: ips
      ? decodeAttrList(ips).map((x) => parseAllowedIp(x.data)).filter((x) => x !== undefined)
      : [],
    // __kernel_timespec: s64 seconds, s64 nanoseconds.
    lastHandshake: u64(a.get(WGPEER_A.LAST_HANDSHAKE_TIME)),
    rxBytes: u64(a.get(WGPEER_A.RX_BYTES)),
    txBytes: u64(a.get(WGPEER_A.TX_BYTES)),
  };
}

/**
 * The device from the payloads of a `WG_CMD_GET_DEVICE` dump (each after its netlink header).
 * A large device arrives in several messages, and one peer's allowed IPs may continue in the
 * next message under the same public key: those are merged.
 */
export function parseDevice(payloads: Uint8Array[]): DeviceState {
  const d: DeviceState = { ifindex: 0, ifname: "", publicKey: "", listenPort: 0, peers: [] };
  for (const p of payloads) {
    const a = decodeAttrs(p.subarray(GENL_HDRLEN));
    const idx = a.get(WGDEVICE_A.IFINDEX);
    if (idx && idx.length >= 4) d.ifindex = view(idx).getUint32(0, true);
    const name = a.get(WGDEVICE_A.IFNAME);
    if (name) {
      d.ifname = dec.decode(name.subarray(0, name.indexOf(0) < 0 ? name.length : name.indexOf(0)));
    }
    const pub = a.get(WGDEVICE_A.PUBLIC_KEY);
    if (pub && pub.length === KEY_LEN && pub.some((x) => x !== 0)) d.publicKey = keyText(pub);
    const port = a.get(WGDEVICE_A.LISTEN_PORT);
    if (port && port.length >= 2) d.listenPort = view(port).getUint16(0, true);
    for (const entry of decodeAttrList(a.get(WGDEVICE_A.PEERS) ?? new Uint8Array())) {
      const peer = parsePeer(entry.data);
      if (!peer) continue;
      const last = d.peers[d.peers.length - 1];
      if (last?.publicKey === peer.publicKey) last.allowedIps.push(...peer.allowedIps);
      else d.peers.push(peer);
    }
  }
  return d;
}
