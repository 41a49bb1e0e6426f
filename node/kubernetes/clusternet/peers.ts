/**
 * WireGuard-mode peering as pure functions (kubernetes.md §8): which peers the `clusternet`
 * interface needs for the current node list, and what to change on the interface to get there.
 * @module
 */
import { keyBytes } from "../../base/wireguard/codec.ts";
import type { KnownNode } from "../../core/roleserve/context.ts";
import { NET, PORTS } from "../paths.ts";
import { type Cidr, formatIPv4, overlaps, parseCidr, parseIPv4, podPrefix } from "./routes.ts";

/** One WireGuard peer: another node. */
export interface WgPeer {
  publicKey: string;
  /** `address:port`. */
  endpoint: string;
  /** Sorted CIDRs. */
  allowedIps: string[];
}

function validKey(k: string | undefined): k is string {
  if (!k) return false;
  try {
    keyBytes(k);
    return true;
  } catch {
    return false;
  }
}

const cidrText = (c: Cidr) => `${formatIPv4(c.addr)}/${c.bits}`;

/**
 * The peers of node `self` (whose public key is `publicKey`): every other node with an address
 * and a valid published key, reached at `<address>:<clusternet port>`, allowed to send from its
 * pod prefixes and its own address/32 (so that a peer's host, not only its pods, can reach our
 * pods through the tunnel). Nodes without a published key are not peers yet. A pod prefix that
 * overlaps our own or one already given to a lower node ID is left out, as is a second node
 * with the same key: WireGuard would silently move such allowed IPs to whichever peer came last.
 */
export function desiredPeers(
  self: { id: string; publicKey: string },
  nodes: ReadonlyMap<string, KnownNode>,
  port: number = PORTS.clusternet,
  clusterCidr: string = NET.clusterCidr,
): WgPeer[] {
  const taken: Cidr[] = (nodes.get(self.id)?.clusternet?.prefixes ?? [])
    .map((p) => podPrefix(p, clusterCidr)).filter((c) => c !== undefined);
  const keys = new Set([self.publicKey]);
  const out: WgPeer[] = [];
  for (const id of [...nodes.keys()].sort()) {
    const n = nodes.get(id)!;
    const key = n.clusternet?.wireguardPubkey;
    if (id === self.id || !validKey(key) || keys.has(key)) continue;
    if (!n.address || parseIPv4(n.address) === undefined) continue;
    keys.add(key);
    const allowed = new Set<string>();
    for (const p of n.clusternet?.prefixes ?? []) {
      if (p === `${n.address}/32` && parseCidr(p)) {
        allowed.add(p);
        continue;
      }
      const c = podPrefix(p, clusterCidr);
      if (!c || taken.some((t) => overlaps(t, c))) continue;
      taken.push(c);
      allowed.add(cidrText(c));
    }
    out.push({ publicKey: key, endpoint: `${n.address}:${port}`, allowedIps: [...allowed].sort() });
  }
  return out;
}

/** What to change on the interface so that its peers (`current`) become `desired`. */
export function diffPeers(
  current: readonly WgPeer[],
  desired: readonly WgPeer[],
): { set: WgPeer[]; remove: string[] } {
  const have = new Map(current.map((p) => [p.publicKey, p]));
  const want = new Set(desired.map((p) => p.publicKey));
  const same = (a: WgPeer, b: WgPeer) =>
    a.endpoint === b.endpoint && [...a.allowedIps].sort().join() === b.allowedIps.join();
  return {
    set: desired.filter((p) => !have.has(p.publicKey) || !same(have.get(p.publicKey)!, p)),
    remove: current.filter((p) => !want.has(p.publicKey)).map((p) => p.publicKey),
  };
}
