/**
 * Strict parsing of the Services and EndpointSlices the DNS server watches into the small
 * shapes of {@link ./table.ts}: only the fields DNS uses are kept, so thousands of objects stay
 * cheap, and an object that does not parse is dropped rather than half-served.
 * @module
 */
import { z } from "zod";
import type { KubeObject } from "../client/client.ts";
import type { PortInfo, ServiceInfo, SliceInfo } from "./table.ts";

const Meta = z.object({
  name: z.string(),
  namespace: z.string(),
  labels: z.record(z.string(), z.string()).optional(),
});

const Port = z.object({
  name: z.string().optional(),
  protocol: z.string().optional(),
  port: z.number().int().min(0).max(65535).optional(),
});

const Service = z.object({
  metadata: Meta,
  spec: z.object({
    type: z.string().optional(),
    clusterIP: z.string().optional(),
    clusterIPs: z.array(z.string()).optional(),
    externalName: z.string().optional(),
    publishNotReadyAddresses: z.boolean().optional(),
    ports: z.array(Port).optional(),
  }),
});

const Slice = z.object({
  metadata: Meta,
  addressType: z.string(),
  endpoints: z.array(z.object({
    addresses: z.array(z.string()),
    conditions: z.object({ ready: z.boolean().nullish() }).optional(),
    hostname: z.string().optional(),
  })).nullish(),
  ports: z.array(Port).nullish(),
});

function ports(ps: z.infer<typeof Port>[] | null | undefined): PortInfo[] {
  return (ps ?? []).filter((p) => p.port !== undefined).map((p) => ({
    name: p.name ?? "",
    protocol: p.protocol ?? "TCP",
    port: p.port!,
  }));
}

/** A Service as DNS sees it; undefined when it does not parse. */
export function parseService(o: KubeObject): ServiceInfo | undefined {
  const r = Service.safeParse(o);
  if (!r.success) return undefined;
  const { metadata: m, spec } = r.data;
  const ips = spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []);
  const externalName = spec.type === "ExternalName" ? spec.externalName : undefined;
  if (spec.type === "ExternalName" && !externalName) return undefined;
  return {
    namespace: m.namespace,
    name: m.name,
    clusterIPs: ips.filter((ip) => ip !== "None" && ip !== ""),
    headless: spec.type !== "ExternalName" && (spec.clusterIP === "None" || ips[0] === "None"),
    ...(externalName ? { externalName } : {}),
    publishNotReady: spec.publishNotReadyAddresses ?? false,
    ports: ports(spec.ports),
  };
}

/** An IPv4 EndpointSlice of a Service; undefined for other address types or bad objects. */
export function parseSlice(o: KubeObject): SliceInfo | undefined {
  const r = Slice.safeParse(o);
  if (!r.success || r.data.addressType !== "IPv4") return undefined;
  const svc = r.data.metadata.labels?.["kubernetes.io/service-name"];
  if (!svc) return undefined;
  return {
    namespace: r.data.metadata.namespace,
    service: svc,
    // A nil ready condition means ready (EndpointConditions API documentation).
    endpoints: (r.data.endpoints ?? []).map((e) => ({
      addresses: e.addresses,
      ready: e.conditions?.ready ?? true,
      ...(e.hostname ? { hostname: e.hostname } : {}),
    })),
    ports: ports(r.data.ports),
  };
}
