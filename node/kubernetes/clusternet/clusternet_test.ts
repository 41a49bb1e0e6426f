/**
 * The clusternet runnable against a fake apiserver, a fake curator and an in-memory route
 * table: what it publishes and which routes it keeps (the kernel side is kernel_test.ts).
 */
import assert from "node:assert/strict";
import { Value } from "../../base/event/value.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { run, signal, Supervisor, untilAborted } from "../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../base/supervisor/testing.ts";
import type { KnownNode } from "../../core/roleserve/context.ts";
import type { CuratorClient } from "../deps.ts";
import { FakeKube } from "../dns/testing.ts";
import { clusternetWith, nodePodCidrs } from "./clusternet.ts";
import type { InstalledRoute, RouteTable } from "./kernel.ts";
import type { PodRoute } from "./routes.ts";
import { MemWireguard } from "./testing.ts";
import { keyBytes, keyText } from "../../base/wireguard/codec.ts";
import { publicKeyOf } from "../../base/wireguard/key.ts";

const NODES = "/api/v1/nodes?fieldSelector=metadata.name%3Dself";

class MemRoutes implements RouteTable {
  routes = new Map<string, InstalledRoute>();
  installed(): InstalledRoute[] {
    return [...this.routes.values()];
  }
  replace(r: PodRoute): boolean {
    if (!r.gateway.startsWith("10.1.0.")) return false; // our only subnet: 10.1.0.0/24
    this.routes.set(`${r.dst}/${r.dstLen}`, { ...r, oif: 2 });
    return true;
  }
  remove(r: InstalledRoute): void {
    this.routes.delete(`${r.dst}/${r.dstLen}`);
  }
  get list(): string[] {
    return [...this.routes.values()].map((r) => `${r.dst}/${r.dstLen} via ${r.gateway}`).sort();
  }
}

function peer(id: string, address: string, prefixes: string[]): [string, KnownNode] {
  return [id, {
    id,
    address,
    consensusMember: false,
    runningCurator: false,
    clusternet: { wireguardPubkey: `k${id}`, prefixes },
  }];
}

interface Published {
  key: string;
  prefixes: string[];
}

async function withClusternet(
  fn: (f: {
    kube: FakeKube;
    address: Value<string | undefined>;
    nodes: Value<Map<string, KnownNode>>;
    routes: MemRoutes;
    published: Published[];
    sup: Supervisor;
    keyDir: string;
    link: MemWireguard;
  }) => Promise<void>,
  keyDir?: string,
  wireguard = false,
): Promise<void> {
  const link = new MemWireguard();
  const kube = new FakeKube();
  const address = new Value<string | undefined>(undefined);
  const nodes = new Value<Map<string, KnownNode>>(new Map());
  const routes = new MemRoutes();
  const published: Published[] = [];
  const dir = keyDir ?? await Deno.makeTempDir();
  const curator = ((_svc: unknown, _signal: AbortSignal) =>
    Promise.resolve({
      updateNodeClusterNetworking: (req: {
        clusternet: { wireguardPubkey: string; prefixes: { cidr: string }[] };
      }) => {
        published.push({
          key: req.clusternet.wireguardPubkey,
          prefixes: req.clusternet.prefixes.map((p) => p.cidr),
        });
        return Promise.resolve({});
      },
    })) as unknown as CuratorClient;
  const sup = new Supervisor(new LogTree(), async (ctx) => {
    run(
      ctx,
      "clusternet",
      clusternetWith({
        nodeId: "self",
        address,
        nodes,
        client: kube.client,
        curator,
        wireguard,
        keyDir: dir,
        routes,
        link,
      }),
    );
    signal(ctx, "healthy");
    await untilAborted(ctx);
  }, { onRootExit: () => {} });
  try {
    await fn({ kube, address, nodes, routes, published, sup, keyDir: dir, link });
  } finally {
    await sup.stop();
    if (!keyDir) await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("publishes the Node's pod CIDRs and the address/32 whenever either changes", async () => {
  await withClusternet(async ({ kube, address, published }) => {
    await waitUntil(() => kube.watchers(NODES) === 1, "node watch");
    assert.equal(published.length, 0, "nothing without an address");
    address.set("10.1.0.2");
    await waitUntil(() => published.length === 1, "first publish");
    assert.deepEqual(published[0].prefixes, ["10.1.0.2/32"]);
    assert.equal(atob(published[0].key).length, 32);

    kube.emit(NODES, "ADDED", { metadata: { name: "self" }, spec: {} });
    kube.emit(NODES, "MODIFIED", {
      metadata: { name: "self" },
      spec: { podCIDR: "10.192.4.0/24", podCIDRs: ["10.192.4.0/24"] },
    });
    await waitUntil(() => published.length === 2, "podCIDR publish");
    assert.deepEqual(published[1].prefixes, ["10.192.4.0/24", "10.1.0.2/32"]);

    address.set("10.1.0.7");
    await waitUntil(() => published.length === 3, "address publish");
    assert.deepEqual(published[2].prefixes, ["10.192.4.0/24", "10.1.0.7/32"]);
    assert.equal(new Set(published.map((p) => p.key)).size, 1, "one key throughout");

    // Unrelated Node changes do not republish.
    kube.emit(NODES, "MODIFIED", {
      metadata: { name: "self", labels: { x: "y" } },
      spec: { podCIDRs: ["10.192.4.0/24"] },
    });
    address.set("10.1.0.7");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(published.length, 3);
  });
});

Deno.test("the placeholder key survives a restart", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const keys: string[] = [];
    for (let i = 0; i < 2; i++) {
      await withClusternet(async ({ address, published }) => {
        address.set("10.1.0.2");
        await waitUntil(() => published.length === 1, "publish");
        keys.push(published[0].key);
      }, dir);
    }
    assert.equal(keys[0], keys[1]);
    assert.equal((await Deno.stat(`${dir}/placeholder.pub`)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("routes follow peers, skip unreachable ones, and are all removed on stop", async () => {
  let routes!: MemRoutes;
  await withClusternet(async (f) => {
    routes = f.routes;
    f.address.set("10.1.0.2");
    f.nodes.set(
      new Map([
        peer("self", "10.1.0.2", ["10.192.0.0/24", "10.1.0.2/32"]),
        peer("b", "10.1.0.3", ["10.192.1.0/24", "10.1.0.3/32"]),
        peer("far", "192.168.7.7", ["10.192.9.0/24"]),
      ]),
    );
    await waitUntil(() => routes.list.length === 1, "routes");
    assert.deepEqual(routes.list, ["10.192.1.0/24 via 10.1.0.3"]);
    await waitUntil(() => f.sup.state("root.clusternet.routes") === "HEALTHY", "routes healthy");

    f.nodes.set(
      new Map([
        peer("self", "10.1.0.2", ["10.192.0.0/24"]),
        peer("c", "10.1.0.4", ["10.192.2.0/24"]),
      ]),
    );
    await waitUntil(() => routes.list.join() === "10.192.2.0/24 via 10.1.0.4", "b gone, c in");
  });
  assert.deepEqual(routes.list, [], "stop removes every clusternet route");
});

Deno.test("routes survive an apiserver outage: only the publisher restarts", async () => {
  await withClusternet(async (f) => {
    f.address.set("10.1.0.2");
    f.nodes.set(new Map([peer("b", "10.1.0.3", ["10.192.1.0/24"])]));
    await waitUntil(() => f.routes.list.length === 1, "route");
    await waitUntil(() => f.kube.watchers(NODES) === 1, "node watch");
    f.kube.endWatches(NODES, new Error("connection reset"));
    await waitUntil(() => f.sup.state("root.clusternet.publish") === "DEAD", "publisher dead");
    assert.equal(f.sup.state("root.clusternet.routes"), "HEALTHY");
    assert.equal(f.routes.list.length, 1);
    await waitUntil(() => f.kube.watchers(NODES) === 1, "publisher back", 10_000);
  });
});

Deno.test("WireGuard mode: publishes the X25519 public key of private.key, peers, no routes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let link!: MemWireguard;
    let routes!: MemRoutes;
    await withClusternet(
      async (f) => {
        link = f.link;
        routes = f.routes;
        f.address.set("10.1.0.2");
        await waitUntil(() => f.published.length === 1, "publish");
        const priv = (await Deno.readTextFile(`${dir}/private.key`)).trim();
        assert.equal((await Deno.stat(`${dir}/private.key`)).mode! & 0o777, 0o600);
        assert.equal(f.published[0].key, await publicKeyOf(priv), "the public key is published");
        assert.equal(keyBytes(f.published[0].key).length, 32);
        await waitUntil(() => link.up, "interface");
        assert.equal(link.privateKey, priv, "the interface uses the same key");
        f.nodes.set(new Map([peer("b", "10.1.0.3", ["10.192.1.0/24", "10.1.0.3/32"])]));
        // peer() publishes a fake key: not a WireGuard key, so not a peer (and no route either).
        await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(link.list, []);
        const real = keyText(new Uint8Array(32).fill(2));
        f.nodes.set(
          new Map([[
            "b",
            {
              ...peer("b", "10.1.0.3", [])[1],
              clusternet: { wireguardPubkey: real, prefixes: ["10.192.1.0/24", "10.1.0.3/32"] },
            },
          ]]),
        );
        await waitUntil(() => link.list.length === 1, "peer b");
        assert.deepEqual(link.list, ["10.1.0.3:7838 10.1.0.3/32,10.192.1.0/24"]);
        assert.deepEqual(routes.list, [], "no direct routes in WireGuard mode");
        assert.equal(f.sup.state("root.clusternet.routes"), undefined);
      },
      dir,
      true,
    );
    assert.equal(link.up, false, "the interface goes with the role");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WireGuard mode: the key is kept across restarts, a corrupt one is replaced and published", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const keys: string[] = [];
    const once = () =>
      withClusternet(
        async ({ address, published }) => {
          address.set("10.1.0.2");
          await waitUntil(() => published.length === 1, "publish");
          keys.push(published[0].key);
        },
        dir,
        true,
      );
    await once();
    await once();
    assert.equal(keys[0], keys[1]);
    await Deno.writeTextFile(`${dir}/private.key`, "half a ke");
    await once();
    assert.notEqual(keys[2], keys[0], "a new key after corruption");
    assert.equal(
      keys[2],
      await publicKeyOf((await Deno.readTextFile(`${dir}/private.key`)).trim()),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pod CIDRs the curator would refuse are not published", () => {
  assert.deepEqual(
    nodePodCidrs({ spec: { podCIDRs: ["10.192.4.0/24", "fd00::/64", "10.0.0.0/24"] } }),
    [
      "10.192.4.0/24",
    ],
  );
  assert.deepEqual(nodePodCidrs({ spec: { podCIDR: "10.192.5.0/24" } }), ["10.192.5.0/24"]);
  assert.deepEqual(nodePodCidrs(undefined as unknown as object), []);
});
