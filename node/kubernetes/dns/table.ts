/**
 * The cluster's DNS data as a pure function of Services and EndpointSlices (kubernetes.md §9,
 * following the Kubernetes DNS specification): {@link buildTable} turns the watched objects into
 * a record table, {@link resolve} answers one question from it or says it must be forwarded.
 * @module
 */
import { NET } from "../paths.ts";
import { type Question, RCODE, type ResourceRecord, TYPE } from "./message.ts";

/** TTL of every record we serve: short, so Service changes are seen within seconds. */
export const TTL = 5;

/** A Service port. */
export interface PortInfo {
  /** "" for an unnamed port (no SRV record: the DNS spec only names named ports). */
  name: string;
  /** `TCP`, `UDP` or `SCTP`. */
  protocol: string;
  port: number;
}

/** What DNS needs of a Service. */
export interface ServiceInfo {
  namespace: string;
  name: string;
  /** IPv4 cluster IPs; empty for headless and ExternalName services. */
  clusterIPs: string[];
  headless: boolean;
  /** Set for `type: ExternalName` (answered with a CNAME). */
  externalName?: string;
  /** `spec.publishNotReadyAddresses`: headless names include endpoints that are not ready. */
  publishNotReady: boolean;
  ports: PortInfo[];
}

/** One endpoint of an EndpointSlice. */
export interface EndpointInfo {
  addresses: string[];
  ready: boolean;
  hostname?: string;
}

/** What DNS needs of an IPv4 EndpointSlice. */
export interface SliceInfo {
  namespace: string;
  /** The owning Service (label `kubernetes.io/service-name`). */
  service: string;
  endpoints: EndpointInfo[];
  ports: PortInfo[];
}

/** Records by (lower-case) owner name, reverse names by IP, and every name that exists. */
export interface DnsTable {
  domain: string;
  records: Map<string, ResourceRecord[]>;
  /** Names with records plus their ancestors down to the domain (empty non-terminals). */
  names: Set<string>;
}

/** The zone apex SOA: its minimum is the negative-caching TTL (RFC 2308). */
export function soa(domain: string): ResourceRecord {
  return {
    name: domain,
    type: TYPE.SOA,
    class: 1,
    ttl: TTL,
    data: {
      kind: "soa",
      mname: `ns.dns.${domain}`,
      rname: `hostmaster.${domain}`,
      serial: 1,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: TTL,
    },
  };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** A DNS label as Kubernetes names are (RFC 1123). */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** True for dotted-quad IPv4 text. */
export function isIPv4(s: string): boolean {
  return IPV4.test(s);
}

function ipNumber(ip: string): number {
  return ip.split(".").reduce((n, p) => n * 256 + Number(p), 0);
}

/** True when `ip` is inside `cidr` (both IPv4). */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split("/");
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(ipNumber(base) / size) * size;
  const n = ipNumber(ip);
  return n >= start && n < start + size;
}

/** `d.c.b.a.in-addr.arpa` for `a.b.c.d`. */
export function reverseName(ip: string): string {
  return `${ip.split(".").reverse().join(".")}.in-addr.arpa`;
}

/** The endpoint's label under a headless service: its hostname, else its IP with dashes. */
function endpointLabel(e: EndpointInfo, ip: string): string {
  return e.hostname && LABEL.test(e.hostname) ? e.hostname : ip.replaceAll(".", "-");
}

class Builder {
  records = new Map<string, ResourceRecord[]>();
  /** Names that exist even without records (a headless service with no ready endpoint). */
  exists = new Set<string>();
  #seen = new Set<string>();

  add(name: string, type: number, data: ResourceRecord["data"]): void {
    const key = `${name} ${type} ${JSON.stringify(data)}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    const rr: ResourceRecord = { name, type, class: 1, ttl: TTL, data };
    const list = this.records.get(name);
    if (list) list.push(rr);
    else this.records.set(name, [rr]);
  }
}

/** SRV records `_<port>._<proto>.<fqdn>` → `target` for every named port. */
function addSrv(b: Builder, fqdn: string, ports: PortInfo[], target: string): void {
  for (const p of ports) {
    if (!p.name || !LABEL.test(p.name)) continue;
    b.add(`_${p.name}._${p.protocol.toLowerCase()}.${fqdn}`, TYPE.SRV, {
      kind: "srv",
      priority: 0,
      weight: 100,
      port: p.port,
      target,
    });
  }
}

/** Builds the record table of `domain` (default `cluster.local`). */
export function buildTable(
  services: Iterable<ServiceInfo>,
  slices: Iterable<SliceInfo>,
  domain: string = NET.clusterDomain,
): DnsTable {
  const bySvc = new Map<string, SliceInfo[]>();
  for (const s of slices) {
    const k = `${s.namespace}/${s.service}`;
    bySvc.set(k, [...bySvc.get(k) ?? [], s]);
  }
  const b = new Builder();
  for (const svc of services) {
    if (!LABEL.test(svc.name) || !LABEL.test(svc.namespace)) continue;
    const fqdn = `${svc.name}.${svc.namespace}.svc.${domain}`;
    if (svc.externalName !== undefined) {
      b.add(fqdn, TYPE.CNAME, { kind: "name", name: svc.externalName.replace(/\.$/, "") });
      continue;
    }
    if (!svc.headless) {
      for (const ip of svc.clusterIPs) {
        if (!isIPv4(ip)) continue;
        b.add(fqdn, TYPE.A, { kind: "a", address: ip });
        b.add(reverseName(ip), TYPE.PTR, { kind: "name", name: fqdn });
      }
      addSrv(b, fqdn, svc.ports, fqdn);
      continue;
    }
    // Headless: the ready endpoints themselves.
    b.exists.add(fqdn);
    for (const slice of bySvc.get(`${svc.namespace}/${svc.name}`) ?? []) {
      for (const e of slice.endpoints) {
        if (!e.ready && !svc.publishNotReady) continue;
        for (const ip of e.addresses) {
          if (!isIPv4(ip)) continue;
          const host = `${endpointLabel(e, ip)}.${fqdn}`;
          b.add(fqdn, TYPE.A, { kind: "a", address: ip });
          b.add(host, TYPE.A, { kind: "a", address: ip });
          b.add(reverseName(ip), TYPE.PTR, { kind: "name", name: host });
          addSrv(b, fqdn, slice.ports, host);
        }
      }
    }
  }
  const names = new Set<string>([domain]);
  for (const name of [...b.records.keys(), ...b.exists]) {
    if (!name.endsWith(`.${domain}`)) continue;
    const labels = name.split(".");
    const depth = domain.split(".").length;
    for (let i = 0; i + depth <= labels.length; i++) names.add(labels.slice(i).join("."));
  }
  return { domain, records: b.records, names };
}

/** What to do with a question. */
export type Resolution =
  | { kind: "forward" }
  | {
    kind: "answer";
    rcode: number;
    answers: ResourceRecord[];
    authority: ResourceRecord[];
    additional: ResourceRecord[];
  };

/** Parses `d.c.b.a.in-addr.arpa` into `a.b.c.d`; undefined for anything else. */
function reverseIp(name: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  if (!m) return undefined;
  const ip = [m[4], m[3], m[2], m[1]].join(".");
  return isIPv4(ip) ? ip : undefined;
}

/** Records of `rrs` answering `type` (CNAME answers any type, as an alias does). */
function matching(rrs: ResourceRecord[], type: number): ResourceRecord[] {
  if (type === TYPE.ANY) return rrs;
  const exact = rrs.filter((r) => r.type === type);
  return exact.length ? exact : rrs.filter((r) => r.type === TYPE.CNAME);
}

/**
 * Answers `q` from `table`: names under the cluster domain and reverse names of the service
 * network are ours (NXDOMAIN when unknown); reverse names of endpoint IPs we know are answered;
 * everything else is forwarded. Answer owner names keep the question's spelling.
 */
export function resolve(
  table: DnsTable,
  q: Question,
  serviceCidr: string = NET.serviceCidr,
): Resolution {
  const name = q.name.toLowerCase().replace(/\.$/, "");
  const ours = name === table.domain || name.endsWith(`.${table.domain}`);
  const rev = reverseIp(name);
  const rrs = table.records.get(name);
  if (!ours && !(rev && (rrs || inCidr(rev, serviceCidr)))) return { kind: "forward" };
  const negative = [soa(table.domain)];
  if (q.class !== 1 && q.class !== TYPE.ANY) {
    return { kind: "answer", rcode: RCODE.REFUSED, answers: [], authority: [], additional: [] };
  }
  if (!rrs) {
    const exists = table.names.has(name);
    if (name === table.domain && (q.type === TYPE.SOA || q.type === TYPE.ANY)) {
      return { kind: "answer", rcode: 0, answers: negative, authority: [], additional: [] };
    }
    return {
      kind: "answer",
      rcode: exists ? RCODE.NOERROR : RCODE.NXDOMAIN,
      answers: [],
      authority: negative,
      additional: [],
    };
  }
  const answers = matching(rrs, q.type).map((r) => ({ ...r, name: q.name.replace(/\.$/, "") }));
  if (!answers.length) {
    return { kind: "answer", rcode: 0, answers, authority: negative, additional: [] };
  }
  // SRV targets' addresses ride along, saving the client a round trip.
  const additional: ResourceRecord[] = [];
  for (const a of answers) {
    if (a.data.kind !== "srv") continue;
    for (const t of table.records.get(a.data.target) ?? []) {
      if (t.type === TYPE.A && !additional.includes(t)) additional.push(t);
    }
  }
  return { kind: "answer", rcode: 0, answers, authority: [], additional };
}
