/**
 * The NetworkPolicy controller's nftables table (kubernetes.md §11), rendered by a pure function
 * of the node name, the pods, the namespaces and the policies.
 *
 * Where pod traffic passes: pods are attached with the CNI `ptp` plugin (a veth per pod, routed
 * by the node, no bridge), so every packet between a pod and anything but its own node crosses
 * the node's `forward` hook — pod to pod on one node, to and from other nodes (clusternet routes
 * them), to the outside, and service traffic after kube-proxy's DNAT in prerouting (policies see
 * endpoint addresses, as the API requires). Packets from a pod to its own node (the cluster DNS
 * on 169.254.77.53, NodePorts of the own node address) cross the `input` hook. Packets from the
 * node to its pods (`output`: kubelet probes) are not filtered: the resident node is always
 * allowed.
 *
 * The table (family `ip`; the cluster is IPv4-only):
 * - base chains `forward` and `input` (filter priority, policy accept) accept conntrack
 *   `established,related` first: replies of allowed connections pass, and so do connections
 *   opened before a policy changed;
 * - then they dispatch on the source address of a local egress-isolated pod (`egress_<ip>`) and,
 *   in `forward`, on the destination address of a local ingress-isolated pod (`ingress_<ip>`);
 * - a per-pod chain holds the rules of every policy that selects the pod for that direction:
 *   a matching rule `return`s (allowed, evaluation continues in the base chain so the other
 *   side's policy is checked too), and the chain ends rejecting: TCP with a reset, everything
 *   else with ICMP admin-prohibited, so denied clients fail at once instead of timing out.
 *
 * Peers resolve to addresses: pod and namespace selectors to the IPv4 addresses of the matching
 * pods on any node, `ipBlock` to its CIDR minus the `except` CIDRs. Named ports resolve per pod:
 * for ingress against the isolated pod itself, for egress against each destination pod (then the
 * rule matches address-and-port pairs).
 * @module
 */
import type {
  LabelSelector,
  NamespaceInfo,
  PodInfo,
  PolicyInfo,
  PolicyPeer,
  PolicyPort,
  PolicyRule,
} from "./objects.ts";
import { cidrContains, ipv4ToNumber, parseCidr, selects } from "./selector.ts";

/** Name of the nftables table (family `ip`). */
export const NPC_TABLE = "metropolis-npc";

/** What the ruleset is computed from. */
export interface NpcState {
  /** This node's Kubernetes node name: its pods get chains. */
  node: string;
  pods: Iterable<PodInfo>;
  namespaces: Iterable<NamespaceInfo>;
  policies: Iterable<PolicyInfo>;
}

type Direction = "ingress" | "egress";

const byIp = (a: string, b: string) => ipv4ToNumber(a) - ipv4ToNumber(b);
const chainName = (d: Direction, ip: string) => `${d}_${ip.replaceAll(".", "_")}`;
const set = (items: string[]) => items.length === 1 ? items[0] : `{ ${items.join(", ")} }`;

/** `cidr` with its host bits cleared (nft wants the network address); undefined if not IPv4. */
function networkOf(cidr: string): string | undefined {
  const c = parseCidr(cidr);
  if (!c) return undefined;
  const size = 2 ** (32 - c.bits);
  const n = c.base - (c.base % size);
  return `${[24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".")}/${c.bits}`;
}

/** Pods and namespace labels, indexed for peer resolution. */
class Cluster {
  readonly pods: PodInfo[];
  readonly nsLabels = new Map<string, Record<string, string>>();

  constructor(s: NpcState) {
    this.pods = [...s.pods].sort((a, b) => byIp(a.ip, b.ip));
    for (const n of s.namespaces) this.nsLabels.set(n.name, n.labels);
  }

  /** Pods a pod/namespace peer of a policy in `ns` selects (not for ipBlock peers). */
  podsOf(p: PolicyPeer, ns: string): PodInfo[] {
    const inNs = (pod: PodInfo) =>
      p.namespaceSelector
        ? selects(p.namespaceSelector, this.nsLabels.get(pod.namespace) ?? {})
        : pod.namespace === ns;
    const sel: LabelSelector = p.podSelector ?? { matchLabels: {}, matchExpressions: [] };
    return this.pods.filter((pod) => inNs(pod) && selects(sel, pod.labels));
  }
}

/** A port entry as an nft match on the destination port, for a given pod's named ports. */
function portMatch(p: PolicyPort, owner: PodInfo | undefined): string | undefined {
  const proto = p.protocol.toLowerCase();
  if (p.port === undefined) return `meta l4proto ${proto}`;
  let port: number;
  if (typeof p.port === "number") port = p.port;
  else {
    const named = owner?.namedPorts.find((n) => n.name === p.port && n.protocol === p.protocol);
    if (!named) return undefined;
    port = named.port;
  }
  const range = typeof p.port === "number" && p.endPort && p.endPort > port
    ? `${port}-${p.endPort}`
    : `${port}`;
  return `${proto} dport ${range}`;
}

/**
 * Groups numeric port matches of one protocol into one set; returns the match strings.
 * `matches` are outputs of {@link portMatch}.
 */
function mergePorts(matches: string[]): string[] {
  const any = new Set<string>();
  const byProto = new Map<string, string[]>();
  for (const m of matches) {
    const l4 = /^meta l4proto (\w+)$/.exec(m);
    if (l4) {
      any.add(l4[1]);
      continue;
    }
    const [proto, , port] = m.split(" ");
    const list = byProto.get(proto) ?? [];
    if (!list.includes(port)) list.push(port);
    byProto.set(proto, list);
  }
  const out = [...any].sort().map((p) => `meta l4proto ${p}`);
  for (const [proto, ports] of [...byProto].sort(([a], [b]) => a.localeCompare(b))) {
    if (any.has(proto)) continue;
    ports.sort((a, b) => parseInt(a) - parseInt(b));
    out.push(`${proto} dport ${set(ports)}`);
  }
  return out;
}

/** The ipBlock of a peer as an address match on `field`; undefined if not IPv4. */
function blockMatch(b: { cidr: string; except: string[] }, field: string): string | undefined {
  const net = networkOf(b.cidr);
  if (!net) return undefined;
  const except = b.except.map(networkOf).filter((e): e is string => !!e);
  return except.length ? `${field} ${net} ${field} != ${set(except)}` : `${field} ${net}`;
}

/** The nft rules (without verdict) that express one policy rule for `pod` in `dir`. */
function ruleMatches(
  c: Cluster,
  policy: PolicyInfo,
  rule: PolicyRule,
  dir: Direction,
  pod: PodInfo,
): string[] {
  const field = dir === "ingress" ? "ip saddr" : "ip daddr";
  const allPeers = rule.peers.length === 0;
  // Peer addresses: pods by selector, plus CIDR blocks.
  const peerPods = new Map<string, PodInfo>();
  const blocks: string[] = [];
  for (const p of rule.peers) {
    if (p.ipBlock) {
      const b = blockMatch(p.ipBlock, field);
      if (b) blocks.push(b);
    } else {
      for (const q of c.podsOf(p, policy.namespace)) peerPods.set(q.ip, q);
    }
  }
  const peerMatches = allPeers ? [""] : [
    ...(peerPods.size ? [`${field} ${set([...peerPods.keys()].sort(byIp))}`] : []),
    ...blocks,
  ];
  if (rule.ports.length === 0) return peerMatches;

  const out: string[] = [];
  const numeric = rule.ports.filter((p) => typeof p.port !== "string");
  const named = rule.ports.filter((p) => typeof p.port === "string");
  const portMatches = mergePorts(
    numeric.map((p) => portMatch(p, undefined)).filter((m): m is string => !!m),
  );
  if (dir === "ingress") {
    // Named ports belong to the isolated pod itself.
    portMatches.push(
      ...mergePorts(named.map((p) => portMatch(p, pod)).filter((m): m is string => !!m)),
    );
  }
  for (const pm of portMatches) {
    for (const m of peerMatches) out.push(m ? `${m} ${pm}` : pm);
  }
  if (dir === "egress" && named.length) {
    // Named ports of destination pods: address-and-port pairs of the peers' pods (of every pod
    // when the rule allows all peers; of the pods inside the blocks for ipBlock peers).
    const dests = allPeers ? c.pods : [
      ...peerPods.values(),
      ...c.pods.filter((q) =>
        rule.peers.some((p) => {
          if (!p.ipBlock) return false;
          const net = parseCidr(p.ipBlock.cidr);
          return !!net && cidrContains(net, q.ip) &&
            !p.ipBlock.except.some((e) => {
              const x = parseCidr(e);
              return !!x && cidrContains(x, q.ip);
            });
        })
      ),
    ];
    const pairs = new Map<string, string[]>();
    for (const p of named) {
      const proto = p.protocol.toLowerCase();
      for (const q of dests) {
        const n = q.namedPorts.find((x) => x.name === p.port && x.protocol === p.protocol);
        if (!n) continue;
        const list = pairs.get(proto) ?? [];
        const pair = `${q.ip} . ${n.port}`;
        if (!list.includes(pair)) list.push(pair);
        pairs.set(proto, list);
      }
    }
    for (const [proto, list] of [...pairs].sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`ip daddr . ${proto} dport { ${list.join(", ")} }`);
    }
  }
  return out;
}

/** Policies of the pod's namespace that select it and isolate `dir`, sorted by name. */
function policiesFor(policies: PolicyInfo[], pod: PodInfo, dir: Direction): PolicyInfo[] {
  return policies.filter((p) =>
    p.namespace === pod.namespace && selects(p.podSelector, pod.labels) &&
    (dir === "ingress" ? p.ingressIsolating : p.egressIsolating)
  );
}

/** The chain of one isolated pod in one direction. */
function podChain(c: Cluster, policies: PolicyInfo[], pod: PodInfo, dir: Direction): string[] {
  const lines = [
    `  # ${dir} of ${pod.namespace}/${pod.name}`,
    `  chain ${chainName(dir, pod.ip)} {`,
  ];
  for (const p of policies) {
    lines.push(`    # ${p.namespace}/${p.name}`);
    const rules = dir === "ingress" ? p.ingress : p.egress;
    const seen = new Set<string>();
    for (const r of rules) {
      for (const m of ruleMatches(c, p, r, dir, pod)) {
        if (seen.has(m)) continue;
        seen.add(m);
        lines.push(m ? `    ${m} return` : `    return`);
      }
    }
  }
  lines.push(
    `    meta l4proto tcp reject with tcp reset`,
    `    reject with icmp type admin-prohibited`,
    `  }`,
  );
  return lines;
}

/**
 * Returns the `nft -f` script: declares the table (so deleting it cannot fail on a fresh node),
 * deletes it and defines it anew, in one transaction — no moment without the previous or the
 * new rules, and no leftovers of removed pods.
 */
export function npcRuleset(s: NpcState): string {
  const c = new Cluster(s);
  const policies = [...s.policies].sort((a, b) =>
    a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name)
  );
  const local = c.pods.filter((p) => p.node === s.node);
  const chains: string[] = [];
  const egress: string[] = [];
  const ingress: string[] = [];
  for (const pod of local) {
    for (const dir of ["egress", "ingress"] as const) {
      const ps = policiesFor(policies, pod, dir);
      if (!ps.length) continue;
      chains.push(...podChain(c, ps, pod, dir));
      (dir === "egress" ? egress : ingress).push(`${pod.ip} : jump ${chainName(dir, pod.ip)}`);
    }
  }
  const vmap = (field: string, entries: string[]) =>
    entries.length ? [`    ${field} vmap { ${entries.join(", ")} }`] : [];
  return [
    `table ip ${NPC_TABLE}`,
    `delete table ip ${NPC_TABLE}`,
    `table ip ${NPC_TABLE} {`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    `    ct state established,related accept`,
    ...vmap("ip saddr", egress),
    ...vmap("ip daddr", ingress),
    `  }`,
    `  chain input {`,
    `    type filter hook input priority filter; policy accept;`,
    `    ct state established,related accept`,
    ...vmap("ip saddr", egress),
    `  }`,
    ...chains,
    `}`,
    ``,
  ].join("\n");
}
