/** SOCKS5 wire constants and address encoding (RFC 1928; CONNECT, no authentication). */
import net from "node:net";
import { Buffer } from "node:buffer";

/** Protocol version byte. */
export const VERSION = 5;
/** Method "no authentication required". */
export const METHOD_NONE = 0;
/** Method reply "no acceptable methods". */
export const METHOD_UNACCEPTABLE = 0xff;
/** Command CONNECT (the only one supported). */
export const CMD_CONNECT = 1;

/** Address types. */
export const ATYP = { IPV4: 1, DOMAIN: 3, IPV6: 4 } as const;

/** Reply codes (RFC 1928 §6). */
export const REPLY = {
  SUCCEEDED: 0,
  GENERAL_FAILURE: 1,
  NOT_ALLOWED: 2,
  NETWORK_UNREACHABLE: 3,
  HOST_UNREACHABLE: 4,
  CONNECTION_REFUSED: 5,
  TTL_EXPIRED: 6,
  COMMAND_NOT_SUPPORTED: 7,
  ADDRESS_TYPE_NOT_SUPPORTED: 8,
} as const;

const REPLY_TEXT: Record<number, string> = {
  0: "succeeded",
  1: "general SOCKS server failure",
  2: "connection not allowed by ruleset",
  3: "network unreachable",
  4: "host unreachable",
  5: "connection refused",
  6: "TTL expired",
  7: "command not supported",
  8: "address type not supported",
};

/** Human text of a reply code. */
export function replyText(code: number): string {
  return REPLY_TEXT[code] ?? `unknown reply ${code}`;
}

/** A destination: host (IP literal or DNS name) and port. */
export interface Destination {
  host: string;
  port: number;
}

/** Encodes ATYP + address + port. */
export function encodeAddress(d: Destination): Buffer {
  if (!Number.isInteger(d.port) || d.port < 0 || d.port > 65535) {
    throw new Error(`socks: bad port ${d.port}`);
  }
  const port = Buffer.from([d.port >> 8, d.port & 0xff]);
  const kind = net.isIP(d.host);
  if (kind === 4) {
    return Buffer.concat([Buffer.from([ATYP.IPV4, ...d.host.split(".").map(Number)]), port]);
  }
  if (kind === 6) return Buffer.concat([Buffer.from([ATYP.IPV6]), ipv6Bytes(d.host), port]);
  const name = Buffer.from(d.host);
  if (name.length === 0 || name.length > 255) throw new Error(`socks: bad host name "${d.host}"`);
  return Buffer.concat([Buffer.from([ATYP.DOMAIN, name.length]), name, port]);
}

/** 16 bytes of an IPv6 literal (with `::` compression, optional embedded IPv4). */
export function ipv6Bytes(addr: string): Buffer {
  let a = addr.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const v4 = a.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const p = v4[1].split(".").map(Number);
    a = a.slice(0, -v4[1].length) + ((p[0] << 8) | p[1]).toString(16) + ":" +
      ((p[2] << 8) | p[3]).toString(16);
  }
  const [head, tail] = a.includes("::") ? a.split("::") : [a, undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  if (groups.length !== 8) throw new Error(`socks: bad IPv6 address "${addr}"`);
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

/** Text form of 16 IPv6 bytes (uncompressed groups; valid input for net.connect). */
export function ipv6Text(b: Uint8Array): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] << 8) | b[i + 1]).toString(16));
  return g.join(":");
}

/** Parses `host:port` / `[v6]:port` into a {@link Destination}. */
export function parseHostPort(s: string): Destination {
  const m = s.match(/^\[([^\]]+)\]:(\d+)$/) ?? s.match(/^([^:]+):(\d+)$/);
  if (!m) throw new Error(`socks: expected host:port, got "${s}"`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`socks: bad port in "${s}"`);
  return { host: m[1], port };
}
