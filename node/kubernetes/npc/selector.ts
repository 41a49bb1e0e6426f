/**
 * Label selector and IPv4 CIDR matching for NetworkPolicy evaluation.
 * @module
 */
import type { LabelSelector } from "./objects.ts";

/**
 * True when `labels` satisfy `s`: every matchLabels pair and every matchExpressions requirement
 * (`In`/`NotIn` a value list, `Exists`/`DoesNotExist`; `NotIn` holds for an absent key, as in
 * Kubernetes). The empty selector matches everything.
 */
export function selects(s: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(s.matchLabels)) {
    if (labels[k] !== v) return false;
  }
  for (const e of s.matchExpressions) {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case "In":
        if (!has || !e.values.includes(labels[e.key])) return false;
        break;
      case "NotIn":
        if (has && e.values.includes(labels[e.key])) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

/** The 32-bit value of a dotted-quad IPv4 address. */
export function ipv4ToNumber(ip: string): number {
  return ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

/** A parsed IPv4 CIDR, or undefined when `cidr` is not one (IPv6 blocks, typos). */
export function parseCidr(cidr: string): { base: number; bits: number } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
  if (!m || m[1].split(".").some((o) => Number(o) > 255) || Number(m[2]) > 32) return undefined;
  return { base: ipv4ToNumber(m[1]), bits: Number(m[2]) };
}

/** True when IPv4 `ip` is inside the parsed block. */
export function cidrContains(c: { base: number; bits: number }, ip: string): boolean {
  const size = 2 ** (32 - c.bits);
  const start = c.base - (c.base % size);
  const n = ipv4ToNumber(ip);
  return n >= start && n < start + size;
}
