/**
 * Strict parsing of the objects the NetworkPolicy controller watches (NetworkPolicies, Pods,
 * Namespaces) into the small shapes {@link ./ruleset.ts} renders from. Only the fields policy
 * evaluation needs are kept. An object that does not parse is dropped; the apiserver validates
 * NetworkPolicies, so a dropped policy means a schema this controller does not know.
 * @module
 */
import { z } from "zod";
import type { KubeObject } from "../client/client.ts";

/** Operators of a label selector requirement. */
export type SelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";

/** A Kubernetes label selector; the empty selector selects everything. */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: { key: string; operator: SelectorOperator; values: string[] }[];
}

/** Transport protocols NetworkPolicy ports name. */
export type Protocol = "TCP" | "UDP" | "SCTP";

/** A port of a policy rule: a number, a container port name, or every port (`port` absent). */
export interface PolicyPort {
  protocol: Protocol;
  port?: number | string;
  /** Last port of a range starting at the numeric `port`. */
  endPort?: number;
}

/** One peer of a rule; exactly as in the API, at least one field is set. */
export interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except: string[] };
}

/** One ingress or egress rule. Empty `peers` = every peer; empty `ports` = every port. */
export interface PolicyRule {
  peers: PolicyPeer[];
  ports: PolicyPort[];
}

/** A NetworkPolicy as the controller sees it. */
export interface PolicyInfo {
  namespace: string;
  name: string;
  podSelector: LabelSelector;
  /** Which directions the policy isolates (policyTypes, with the API's defaulting). */
  ingressIsolating: boolean;
  egressIsolating: boolean;
  ingress: PolicyRule[];
  egress: PolicyRule[];
}

/** A named container port of a pod. */
export interface NamedPort {
  name: string;
  protocol: Protocol;
  port: number;
}

/** A pod with a pod-network address. */
export interface PodInfo {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** Node the pod is scheduled to (empty while unscheduled). */
  node: string;
  /** IPv4 pod address. */
  ip: string;
  namedPorts: NamedPort[];
}

/** A namespace and its labels. */
export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
}

const Labels = z.record(z.string(), z.string()).nullish();

const Selector = z.object({
  matchLabels: Labels,
  matchExpressions: z.array(z.object({
    key: z.string(),
    operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
    values: z.array(z.string()).nullish(),
  })).nullish(),
});

const Proto = z.enum(["TCP", "UDP", "SCTP"]);

const Port = z.object({
  protocol: Proto.nullish(),
  port: z.union([z.number().int().min(1).max(65535), z.string().min(1)]).nullish(),
  endPort: z.number().int().min(1).max(65535).nullish(),
});

const Peer = z.object({
  podSelector: Selector.nullish(),
  namespaceSelector: Selector.nullish(),
  ipBlock: z.object({ cidr: z.string(), except: z.array(z.string()).nullish() }).nullish(),
});

const Rule = z.object({ ports: z.array(Port).nullish() });

const Policy = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string() }),
  spec: z.object({
    podSelector: Selector.nullish(),
    policyTypes: z.array(z.enum(["Ingress", "Egress"])).nullish(),
    ingress: z.array(Rule.extend({ from: z.array(Peer).nullish() })).nullish(),
    egress: z.array(Rule.extend({ to: z.array(Peer).nullish() })).nullish(),
  }),
});

const Pod = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string(), labels: Labels }),
  spec: z.object({
    nodeName: z.string().nullish(),
    hostNetwork: z.boolean().nullish(),
    containers: z.array(z.object({
      ports: z.array(z.object({
        name: z.string().nullish(),
        containerPort: z.number().int().min(1).max(65535),
        protocol: Proto.nullish(),
      })).nullish(),
    })),
  }),
  status: z.object({
    phase: z.string().nullish(),
    podIP: z.string().nullish(),
    podIPs: z.array(z.object({ ip: z.string() })).nullish(),
  }).nullish(),
});

const Namespace = z.object({ metadata: z.object({ name: z.string(), labels: Labels }) });

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** True for a dotted-quad IPv4 address. */
export function isIPv4(s: string): boolean {
  const m = IPV4.exec(s);
  return !!m && m.slice(1).every((o) => Number(o) <= 255);
}

function selector(s: z.infer<typeof Selector> | null | undefined): LabelSelector {
  return {
    matchLabels: s?.matchLabels ?? {},
    matchExpressions: (s?.matchExpressions ?? []).map((e) => ({
      key: e.key,
      operator: e.operator,
      values: e.values ?? [],
    })),
  };
}

function ports(ps: z.infer<typeof Port>[] | null | undefined): PolicyPort[] {
  return (ps ?? []).map((p) => ({
    protocol: p.protocol ?? "TCP",
    ...(p.port != null ? { port: p.port } : {}),
    ...(p.endPort != null ? { endPort: p.endPort } : {}),
  }));
}

function peers(ps: z.infer<typeof Peer>[] | null | undefined): PolicyPeer[] {
  return (ps ?? []).map((p) => ({
    ...(p.podSelector ? { podSelector: selector(p.podSelector) } : {}),
    ...(p.namespaceSelector ? { namespaceSelector: selector(p.namespaceSelector) } : {}),
    ...(p.ipBlock ? { ipBlock: { cidr: p.ipBlock.cidr, except: p.ipBlock.except ?? [] } } : {}),
  }));
}

/** A NetworkPolicy; undefined when it does not parse. */
export function parsePolicy(o: KubeObject): PolicyInfo | undefined {
  const r = Policy.safeParse(o);
  if (!r.success) return undefined;
  const { metadata: m, spec } = r.data;
  // Defaulting of policyTypes (the apiserver fills it in, older objects may lack it): every
  // policy isolates ingress, and egress when it has egress rules.
  const types = spec.policyTypes ??
    (spec.egress?.length ? ["Ingress", "Egress"] as const : ["Ingress"] as const);
  return {
    namespace: m.namespace,
    name: m.name,
    podSelector: selector(spec.podSelector),
    ingressIsolating: types.includes("Ingress"),
    egressIsolating: types.includes("Egress"),
    ingress: (spec.ingress ?? []).map((r) => ({ peers: peers(r.from), ports: ports(r.ports) })),
    egress: (spec.egress ?? []).map((r) => ({ peers: peers(r.to), ports: ports(r.ports) })),
  };
}

/**
 * A pod on the pod network; undefined for host-network pods, pods without an IPv4 address yet,
 * finished pods (their address may already belong to another pod) and bad objects.
 */
export function parsePod(o: KubeObject): PodInfo | undefined {
  const r = Pod.safeParse(o);
  if (!r.success) return undefined;
  const { metadata: m, spec, status } = r.data;
  if (spec.hostNetwork) return undefined;
  if (status?.phase === "Succeeded" || status?.phase === "Failed") return undefined;
  const ips = [...(status?.podIPs ?? []).map((p) => p.ip), status?.podIP ?? ""];
  const ip = ips.find(isIPv4);
  if (!ip) return undefined;
  const namedPorts: NamedPort[] = [];
  for (const c of spec.containers) {
    for (const p of c.ports ?? []) {
      if (p.name) {
        namedPorts.push({ name: p.name, protocol: p.protocol ?? "TCP", port: p.containerPort });
      }
    }
  }
  return {
    namespace: m.namespace,
    name: m.name,
    labels: m.labels ?? {},
    node: spec.nodeName ?? "",
    ip,
    namedPorts,
  };
}

/** A namespace; undefined when it does not parse. */
export function parseNamespace(o: KubeObject): NamespaceInfo | undefined {
  const r = Namespace.safeParse(o);
  if (!r.success) return undefined;
  return { name: r.data.metadata.name, labels: r.data.metadata.labels ?? {} };
}
