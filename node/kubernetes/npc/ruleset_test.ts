/**
 * Golden cases of the NetworkPolicy ruleset: each case is a set of Kubernetes objects (as the
 * apiserver sends them) and the expected `nft` script in testdata/golden/<case>.nft.
 * `UPDATE_GOLDEN=1 deno test -A node/kubernetes/npc/ruleset_test.ts` rewrites the files (review
 * the diff). As root, every golden script is also checked by `nft -c`.
 */
import assert from "node:assert/strict";
import type { KubeObject } from "../client/client.ts";
import { parseNamespace, parsePod, parsePolicy } from "./objects.ts";
import { npcRuleset } from "./ruleset.ts";

const GOLDEN = new URL("./testdata/golden/", import.meta.url).pathname;
const NODE = "node-a";

function pod(
  ns: string,
  name: string,
  ip: string,
  labels: Record<string, string>,
  o: { node?: string; ports?: KubeObject[] } = {},
): KubeObject {
  return {
    metadata: { namespace: ns, name, labels },
    spec: { nodeName: o.node ?? NODE, containers: [{ name: "c", ports: o.ports ?? [] }] },
    status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
  };
}

function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { metadata: { name, labels: { "kubernetes.io/metadata.name": name, ...labels } } };
}

function policy(ns: string, name: string, spec: KubeObject): KubeObject {
  return { metadata: { namespace: ns, name }, spec };
}

const NAMESPACES = [namespace("default"), namespace("prod", { env: "prod" }), namespace("dev")];
const PODS = [
  // Local pods.
  pod("default", "web", "10.192.1.10", { app: "web" }, {
    ports: [{ name: "http", containerPort: 8080 }, {
      name: "dns",
      containerPort: 53,
      protocol: "UDP",
    }],
  }),
  pod("default", "client", "10.192.1.11", { app: "client", tier: "front" }),
  // Remote pods.
  pod("default", "web-2", "10.192.2.10", { app: "web" }, {
    node: "node-b",
    ports: [{ name: "http", containerPort: 8081 }],
  }),
  pod("prod", "db", "10.192.2.20", { app: "db", tier: "back" }, { node: "node-b" }),
  pod("dev", "tool", "10.192.2.30", { app: "tool" }, { node: "node-b" }),
];

/** The cases: name → policies (pods and namespaces are the shared ones above). */
const CASES: Record<string, KubeObject[]> = {
  "no-policies": [],
  "default-deny-ingress": [
    policy("default", "deny", { podSelector: {}, policyTypes: ["Ingress"] }),
  ],
  "default-deny-all": [
    policy("default", "deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
  ],
  "ingress-pod-selector-ports": [policy("default", "web-from-client", {
    podSelector: { matchLabels: { app: "web" } },
    ingress: [{
      from: [{ podSelector: { matchLabels: { app: "client" } } }],
      ports: [{ port: 8080 }, { protocol: "UDP", port: 53 }, { port: 9000, endPort: 9010 }],
    }],
  })],
  "ingress-namespace-selector-and-expressions": [policy("default", "web-from-prod", {
    podSelector: { matchExpressions: [{ key: "app", operator: "In", values: ["web", "api"] }] },
    policyTypes: ["Ingress"],
    ingress: [
      { from: [{ namespaceSelector: { matchLabels: { env: "prod" } } }] },
      {
        // Namespace and pod selector in one peer: back-tier pods of namespaces that are not dev.
        from: [{
          namespaceSelector: {
            matchExpressions: [{
              key: "kubernetes.io/metadata.name",
              operator: "NotIn",
              values: ["dev"],
            }],
          },
          podSelector: {
            matchExpressions: [
              { key: "tier", operator: "Exists" },
              { key: "app", operator: "NotIn", values: ["client"] },
            ],
          },
        }],
      },
      // A selector nothing matches gives no rule (not an allow-all).
      {
        from: [{
          podSelector: {
            matchExpressions: [{ key: "x", operator: "DoesNotExist" }, {
              key: "x",
              operator: "Exists",
            }],
          },
        }],
      },
    ],
  })],
  "named-ports": [policy("default", "named", {
    podSelector: {},
    policyTypes: ["Ingress", "Egress"],
    ingress: [{ ports: [{ port: "http" }, { port: "dns", protocol: "UDP" }, { port: "nope" }] }],
    egress: [{
      to: [{ podSelector: { matchLabels: { app: "web" } } }],
      ports: [{ port: "http" }],
    }],
  })],
  "ipblock-except": [policy("default", "blocks", {
    podSelector: { matchLabels: { app: "client" } },
    policyTypes: ["Egress"],
    egress: [
      {
        to: [{ ipBlock: { cidr: "10.1.60.7/16", except: ["10.1.61.0/24", "10.1.62.5/32"] } }],
        ports: [{ port: 443 }],
      },
      { to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ protocol: "UDP", port: 53 }] },
      // IPv6 blocks have no place in the IPv4 table.
      { to: [{ ipBlock: { cidr: "fd00::/8" } }] },
    ],
  })],
  "egress-allow-dns-and-all-ingress": [
    policy("default", "dns-only", {
      podSelector: { matchLabels: { app: "client" } },
      policyTypes: ["Egress"],
      egress: [{ ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] }],
    }),
    policy("default", "allow-all-ingress", { podSelector: {}, ingress: [{}] }),
  ],
  "policy-types-defaulted": [
    // No policyTypes, egress rules present: isolates both directions.
    policy("default", "implicit", {
      podSelector: { matchLabels: { app: "web" } },
      egress: [{ to: [{ podSelector: {} }] }],
    }),
  ],
  "policies-of-other-namespaces-do-not-apply": [
    policy("prod", "deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
  ],
};

function render(policies: KubeObject[]): string {
  return npcRuleset({
    node: NODE,
    pods: PODS.map(parsePod).filter((p) => !!p),
    namespaces: NAMESPACES.map(parseNamespace).filter((n) => !!n),
    policies: policies.map((p) => {
      const r = parsePolicy(p);
      assert.ok(r, `policy ${p.metadata.name} parses`);
      return r;
    }),
  });
}

for (const [name, policies] of Object.entries(CASES)) {
  Deno.test(`npc ruleset golden: ${name}`, async () => {
    const got = render(policies);
    const file = `${GOLDEN}${name}.nft`;
    if (Deno.env.get("UPDATE_GOLDEN")) {
      await Deno.mkdir(GOLDEN, { recursive: true });
      await Deno.writeTextFile(file, got);
    }
    assert.equal(got, await Deno.readTextFile(file));
  });
}

Deno.test({
  name: "npc ruleset: every golden script is accepted by nft -c",
  ignore: Deno.uid() !== 0,
  async fn() {
    for (const name of Object.keys(CASES)) {
      const p = new Deno.Command("nft", {
        args: ["-c", "-f", "-"],
        stdin: "piped",
        stderr: "piped",
      })
        .spawn();
      const w = p.stdin.getWriter();
      await w.write(new TextEncoder().encode(render(CASES[name])));
      await w.close();
      const out = await p.output();
      assert.ok(out.success, `${name}: ${new TextDecoder().decode(out.stderr)}`);
    }
  },
});

Deno.test("npc ruleset: only pods of this node get chains; remote pods are peers only", () => {
  const r = render(CASES["default-deny-all"]);
  assert.match(r, /chain ingress_10_192_1_10 \{/);
  assert.match(r, /chain egress_10_192_1_11 \{/);
  assert.doesNotMatch(r, /10_192_2_/);
});

Deno.test("npc ruleset: a pod selected by no policy is not isolated", () => {
  const r = render(CASES["ingress-pod-selector-ports"]);
  assert.match(r, /ip daddr vmap \{ 10\.192\.1\.10 : jump ingress_10_192_1_10 \}/);
  assert.doesNotMatch(r, /10_192_1_11/);
  assert.doesNotMatch(r, /ip saddr vmap/);
});

Deno.test("npc ruleset: host-network, finished and address-less pods are ignored", () => {
  const host = pod("default", "h", "10.1.50.2", { app: "web" });
  host.spec.hostNetwork = true;
  const done = pod("default", "d", "10.192.1.99", { app: "web" });
  done.status.phase = "Succeeded";
  const pending = pod("default", "p", "", { app: "web" });
  pending.status = { phase: "Pending" };
  assert.equal(parsePod(host), undefined);
  assert.equal(parsePod(done), undefined);
  assert.equal(parsePod(pending), undefined);
});

Deno.test("npc ruleset: a policy with an unknown operator does not parse", () => {
  assert.equal(
    parsePolicy(policy("default", "bad", {
      podSelector: { matchExpressions: [{ key: "a", operator: "Gt", values: ["1"] }] },
    })),
    undefined,
  );
});
