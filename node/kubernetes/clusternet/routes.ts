/**
 * Direct-mode pod routing as pure functions (kubernetes.md §8): which routes a node needs to
 * reach every peer's pod prefixes over the shared L2 network, and the difference to what is
 * installed.
 * @module
 */
import type { KnownNode } from "../../core/roleserve/context.ts";
import { NET } from "../paths.ts";

/** `dst/dstLen via gateway`. */
export interface PodRoute {
  dst: string;
  dstLen: number;
  gateway: string;
}

/** A parsed canonical IPv4 CIDR: network as a number, prefix length. */
export interface Cidr {
  addr: number;
  bits: number;
}

/** Parses dotted IPv4; undefined for anything else (leading zeros included). */
export function parseIPv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const p = m.slice(1);
  if (p.some((x) => Number(x) > 255 || (x.length > 1 && x[0] === "0"))) return undefined;
  return p.reduce((n, x) => n * 256 + Number(x), 0);
}

/** Dotted text of an IPv4 number. */
export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** Parses a canonical IPv4 CIDR (no host bits set); undefined otherwise. */
export function parseCidr(s: string): Cidr | undefined {
  const [a, b, ...rest] = s.split("/");
  if (rest.length || b === undefined || !/^\d{1,2}$/.test(b) || Number(b) > 32) return undefined;
  const addr = parseIPv4(a);
  const bits = Number(b);
  if (addr === undefined || addr % 2 ** (32 - bits) !== 0) return undefined;
  return { addr, bits };
}

/** True when `inner` lies within `outer`. */
export function within(inner: Cidr, outer: Cidr): boolean {
  return inner.bits >= outer.bits &&
    Math.floor(inner.addr / 2 ** (32 - outer.bits)) ===
      Math.floor(outer.addr / 2 ** (32 - outer.bits));
}

/** True when the two networks share any address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return within(a, b) || within(b, a);
}

/** A pod-network CIDR from the Node object or a peer; undefined if not canonical or outside. */
export function podPrefix(s: string, clusterCidr: string = NET.clusterCidr): Cidr | undefined {
  const c = parseCidr(s);
  return c && within(c, parseCidr(clusterCidr)!) ? c : undefined;
}

/**
 * The routes `self` needs: for every other node with an address and published prefixes, one
 * route per prefix inside the pod network via that node's address. Prefixes overlapping this
 * node's own published prefixes are skipped (our pods are local), and a prefix claimed by two
 * peers goes to the lower node ID, so the result does not depend on map order.
 */
export function desiredRoutes(
  self: { id: string; address?: string },
  nodes: ReadonlyMap<string, KnownNode>,
  clusterCidr: string = NET.clusterCidr,
): PodRoute[] {
  if (!self.address) return [];
  const own = (nodes.get(self.id)?.clusternet?.prefixes ?? [])
    .map((p) => podPrefix(p, clusterCidr)).filter((c) => c !== undefined);
  const taken: Cidr[] = [...own];
  const out: PodRoute[] = [];
  for (const id of [...nodes.keys()].sort()) {
    const n = nodes.get(id)!;
    if (id === self.id || !n.address || n.address === self.address) continue;
    if (parseIPv4(n.address) === undefined) continue;
    for (const p of n.clusternet?.prefixes ?? []) {
      const c = podPrefix(p, clusterCidr);
      if (!c || taken.some((t) => overlaps(t, c))) continue;
      taken.push(c);
      out.push({ dst: formatIPv4(c.addr), dstLen: c.bits, gateway: n.address });
    }
  }
  return out.sort((a, b) => routeKey(a) < routeKey(b) ? -1 : routeKey(a) > routeKey(b) ? 1 : 0);
}

/** `dst/len`: a route's identity in the main table. */
export function routeKey(r: { dst: string; dstLen: number }): string {
  return `${r.dst}/${r.dstLen}`;
}

/** What to change so that `installed` becomes `desired`. */
export function diffRoutes(
  installed: readonly PodRoute[],
  desired: readonly PodRoute[],
): { replace: PodRoute[]; remove: PodRoute[] } {
  const have = new Map(installed.map((r) => [routeKey(r), r]));
  const want = new Map(desired.map((r) => [routeKey(r), r]));
  return {
    replace: desired.filter((r) => have.get(routeKey(r))?.gateway !== r.gateway),
    remove: installed.filter((r) => !want.has(routeKey(r))),
  };
}
