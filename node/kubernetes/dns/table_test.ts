import assert from "node:assert/strict";
import { RCODE, TYPE } from "./message.ts";
import { buildTable, resolve, type ServiceInfo, type SliceInfo } from "./table.ts";
import { parseService, parseSlice } from "./objects.ts";

const kubernetes: ServiceInfo = {
  namespace: "default",
  name: "kubernetes",
  clusterIPs: ["10.224.0.1"],
  headless: false,
  publishNotReady: false,
  ports: [{ name: "https", protocol: "TCP", port: 443 }],
};
const db: ServiceInfo = {
  namespace: "shop",
  name: "db",
  clusterIPs: [],
  headless: true,
  publishNotReady: false,
  ports: [{ name: "pg", protocol: "TCP", port: 5432 }],
};
const dbSlice: SliceInfo = {
  namespace: "shop",
  service: "db",
  endpoints: [
    { addresses: ["10.192.1.5"], ready: true, hostname: "db-0" },
    { addresses: ["10.192.2.7"], ready: true },
    { addresses: ["10.192.3.9"], ready: false, hostname: "db-2" },
  ],
  ports: [{ name: "pg", protocol: "TCP", port: 5432 }],
};
const ext: ServiceInfo = {
  namespace: "shop",
  name: "mail",
  clusterIPs: [],
  headless: false,
  externalName: "smtp.example.com",
  publishNotReady: false,
  ports: [],
};
const table = buildTable([kubernetes, db, ext], [dbSlice]);
const q = (name: string, type: number = TYPE.A) => resolve(table, { name, type, class: 1 });

function answer(r: ReturnType<typeof q>) {
  assert.equal(r.kind, "answer");
  return r as Extract<typeof r, { kind: "answer" }>;
}
const addrs = (r: ReturnType<typeof q>) =>
  answer(r).answers.map((a) => a.data.kind === "a" ? a.data.address : a.data.kind);

Deno.test("a ClusterIP service name answers its cluster IP with TTL 5", () => {
  const r = answer(q("kubernetes.default.svc.cluster.local"));
  assert.equal(r.rcode, RCODE.NOERROR);
  assert.deepEqual(addrs(r), ["10.224.0.1"]);
  assert.equal(r.answers[0].ttl, 5);
});

Deno.test("names are matched case-insensitively and answered in the asker's spelling", () => {
  const r = answer(q("Kubernetes.Default.SVC.cluster.local."));
  assert.deepEqual(addrs(r), ["10.224.0.1"]);
  assert.equal(r.answers[0].name, "Kubernetes.Default.SVC.cluster.local");
});

Deno.test("pod search-path expansions that are not services are NXDOMAIN, the right one answers", () => {
  // A pod in namespace `shop` asking for `kubernetes.default` with the usual search path.
  assert.equal(answer(q("kubernetes.default.shop.svc.cluster.local")).rcode, RCODE.NXDOMAIN);
  assert.deepEqual(addrs(q("kubernetes.default.svc.cluster.local")), ["10.224.0.1"]);
  // `google.com` expanded with the search path stays ours and fails fast.
  const r = answer(q("google.com.shop.svc.cluster.local"));
  assert.equal(r.rcode, RCODE.NXDOMAIN);
  assert.equal(r.authority[0].type, TYPE.SOA);
});

Deno.test("a headless service answers its ready endpoints, each also by hostname or dashed IP", () => {
  assert.deepEqual(addrs(q("db.shop.svc.cluster.local")).sort(), ["10.192.1.5", "10.192.2.7"]);
  assert.deepEqual(addrs(q("db-0.db.shop.svc.cluster.local")), ["10.192.1.5"]);
  assert.deepEqual(addrs(q("10-192-2-7.db.shop.svc.cluster.local")), ["10.192.2.7"]);
  assert.equal(answer(q("db-2.db.shop.svc.cluster.local")).rcode, RCODE.NXDOMAIN);
});

Deno.test("publishNotReadyAddresses includes endpoints that are not ready", () => {
  const t = buildTable([{ ...db, publishNotReady: true }], [dbSlice]);
  const r = resolve(t, { name: "db.shop.svc.cluster.local", type: TYPE.A, class: 1 });
  assert.equal(r.kind === "answer" && r.answers.length, 3);
});

Deno.test("SRV of a ClusterIP service points at the service name with its address added", () => {
  const r = answer(q("_https._tcp.kubernetes.default.svc.cluster.local", TYPE.SRV));
  assert.deepEqual(r.answers.map((a) => a.data), [
    {
      kind: "srv",
      priority: 0,
      weight: 100,
      port: 443,
      target: "kubernetes.default.svc.cluster.local",
    },
  ]);
  assert.deepEqual(r.additional.map((a) => a.data), [{ kind: "a", address: "10.224.0.1" }]);
});

Deno.test("SRV of a headless service lists one target per ready endpoint", () => {
  const r = answer(q("_pg._tcp.db.shop.svc.cluster.local", TYPE.SRV));
  const targets = r.answers.map((a) => a.data.kind === "srv" && a.data.target).sort();
  assert.deepEqual(targets, [
    "10-192-2-7.db.shop.svc.cluster.local",
    "db-0.db.shop.svc.cluster.local",
  ]);
  assert.equal(r.additional.length, 2);
  assert.equal(answer(q("_pg._udp.db.shop.svc.cluster.local", TYPE.SRV)).rcode, RCODE.NXDOMAIN);
});

Deno.test("PTR of a service IP names the service; of a headless endpoint, the endpoint", () => {
  const r = answer(q("1.0.224.10.in-addr.arpa", TYPE.PTR));
  assert.deepEqual(r.answers.map((a) => a.data), [
    { kind: "name", name: "kubernetes.default.svc.cluster.local" },
  ]);
  const e = answer(q("5.1.192.10.in-addr.arpa", TYPE.PTR));
  assert.deepEqual(e.answers.map((a) => a.data), [
    { kind: "name", name: "db-0.db.shop.svc.cluster.local" },
  ]);
});

Deno.test("unknown service IPs are NXDOMAIN; other reverse names and other zones are forwarded", () => {
  assert.equal(answer(q("99.0.224.10.in-addr.arpa", TYPE.PTR)).rcode, RCODE.NXDOMAIN);
  assert.equal(q("8.8.8.8.in-addr.arpa", TYPE.PTR).kind, "forward");
  assert.equal(q("example.com").kind, "forward");
  assert.equal(q("cluster.local.example.com").kind, "forward");
});

Deno.test("existing names without the asked type are NODATA, and so are their parents", () => {
  for (
    const name of [
      "kubernetes.default.svc.cluster.local",
      "default.svc.cluster.local",
      "svc.cluster.local",
    ]
  ) {
    const r = answer(q(name, TYPE.AAAA));
    assert.equal(r.rcode, RCODE.NOERROR, name);
    assert.deepEqual(r.answers, []);
    assert.equal(r.authority[0].type, TYPE.SOA);
  }
  assert.equal(answer(q("nosuchns.svc.cluster.local")).rcode, RCODE.NXDOMAIN);
});

Deno.test("an ExternalName service is a CNAME for any type", () => {
  const r = answer(q("mail.shop.svc.cluster.local"));
  assert.deepEqual(r.answers.map((a) => [a.type, a.data]), [
    [TYPE.CNAME, { kind: "name", name: "smtp.example.com" }],
  ]);
});

Deno.test("the zone apex answers SOA", () => {
  const r = answer(q("cluster.local", TYPE.SOA));
  assert.equal(r.answers[0].type, TYPE.SOA);
});

Deno.test("API objects parse into the table's shapes; unusable ones are dropped", () => {
  assert.deepEqual(
    parseService({
      metadata: { name: "kubernetes", namespace: "default" },
      spec: {
        type: "ClusterIP",
        clusterIP: "10.224.0.1",
        clusterIPs: ["10.224.0.1"],
        ports: [{ name: "https", port: 443, protocol: "TCP" }],
      },
    }),
    kubernetes,
  );
  assert.equal(parseService({ metadata: { name: "x" }, spec: {} }), undefined);
  assert.equal(
    parseService({ metadata: { name: "h", namespace: "n" }, spec: { clusterIP: "None" } })
      ?.headless,
    true,
  );
  assert.deepEqual(
    parseSlice({
      metadata: {
        name: "db-abc",
        namespace: "shop",
        labels: { "kubernetes.io/service-name": "db" },
      },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.192.1.5"], conditions: { ready: true }, hostname: "db-0" }, {
        addresses: ["10.192.2.7"],
        conditions: {},
      }],
      ports: [{ name: "pg", port: 5432, protocol: "TCP" }],
    }),
    { ...dbSlice, endpoints: dbSlice.endpoints.slice(0, 2) },
  );
  assert.equal(
    parseSlice({
      metadata: { name: "v6", namespace: "shop", labels: { "kubernetes.io/service-name": "db" } },
      addressType: "IPv6",
      endpoints: [],
    }),
    undefined,
  );
});
