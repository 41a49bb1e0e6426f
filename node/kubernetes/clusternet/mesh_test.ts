/** The WireGuard-mode runnable against an in-memory interface (the kernel side: wglink.ts). */
import assert from "node:assert/strict";
import { Value } from "../../base/event/value.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { run, signal, Supervisor, untilAborted } from "../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../base/supervisor/testing.ts";
import { keyText } from "../../base/wireguard/codec.ts";
import { generateKeyPair, type KeyPair } from "../../base/wireguard/key.ts";
import type { KnownNode } from "../../core/roleserve/context.ts";
import { mesh } from "./mesh.ts";
import { MemWireguard } from "./testing.ts";

const key = (b: number) => keyText(new Uint8Array(32).fill(b));

function peer(id: string, address: string, k: string, prefixes: string[]): [string, KnownNode] {
  return [id, {
    id,
    address,
    consensusMember: false,
    runningCurator: false,
    clusternet: { wireguardPubkey: k, prefixes },
  }];
}

async function withMesh(
  fn: (f: { link: MemWireguard; nodes: Value<Map<string, KnownNode>>; sup: Supervisor }) => Promise<
    void
  >,
  opts: { keys?: KeyPair; link?: MemWireguard } = {},
): Promise<MemWireguard> {
  const keys = opts.keys ?? await generateKeyPair();
  const link = opts.link ?? new MemWireguard();
  const nodes = new Value<Map<string, KnownNode>>();
  const sup = new Supervisor(new LogTree(), async (ctx) => {
    run(ctx, "wireguard", mesh({ nodeId: "self", keys, nodes, link }));
    signal(ctx, "healthy");
    await untilAborted(ctx);
  }, { onRootExit: () => {} });
  try {
    await fn({ link, nodes, sup });
  } finally {
    await sup.stop();
  }
  return link;
}

Deno.test("mesh: interface with our key, peers follow the node list, removed on stop", async () => {
  const keys = await generateKeyPair();
  const link = await withMesh(async ({ link, nodes, sup }) => {
    await waitUntil(() => link.up, "interface created");
    assert.equal(link.privateKey, keys.privateKey);
    assert.notEqual(sup.state("root.wireguard"), "HEALTHY", "not healthy before the node list");
    nodes.set(
      new Map([
        peer("self", "10.1.58.2", keys.publicKey, ["10.192.0.0/24", "10.1.58.2/32"]),
        peer("b", "10.1.58.3", key(2), ["10.192.1.0/24", "10.1.58.3/32"]),
        peer("c", "10.1.58.4", key(3), ["10.1.58.4/32"]),
      ]),
    );
    await waitUntil(() => link.list.length === 2, "two peers");
    assert.deepEqual(link.list, [
      "10.1.58.3:7838 10.1.58.3/32,10.192.1.0/24",
      "10.1.58.4:7838 10.1.58.4/32",
    ]);
    await waitUntil(() => sup.state("root.wireguard") === "HEALTHY", "healthy");

    // c gets its pod CIDR, b leaves.
    nodes.set(
      new Map([
        peer("self", "10.1.58.2", keys.publicKey, ["10.192.0.0/24", "10.1.58.2/32"]),
        peer("c", "10.1.58.4", key(3), ["10.192.2.0/24", "10.1.58.4/32"]),
      ]),
    );
    await waitUntil(() => link.list.join() === "10.1.58.4:7838 10.1.58.4/32,10.192.2.0/24", "c");
    assert.equal(link.creates, 1, "peer changes never recreate the interface");
  }, { keys });
  assert.equal(link.up, false, "stop removes the interface");
});

Deno.test("mesh: a kernel key other than ours is an error, and the interface goes", async () => {
  const link = new MemWireguard();
  link.forcedKey = key(9);
  await withMesh(async ({ link, sup }) => {
    await waitUntil(() => link.creates >= 1, "created");
    await waitUntil(() => sup.state("root.wireguard") === "DEAD", "runnable failed");
    assert.equal(link.up, false);
  }, { link });
});
