import assert from "node:assert/strict";
import { keyText } from "../../base/wireguard/codec.ts";
import type { KnownNode } from "../../core/roleserve/context.ts";
import { desiredPeers, diffPeers, type WgPeer } from "./peers.ts";

const key = (b: number) => keyText(new Uint8Array(32).fill(b));
const SELF = key(1);

function node(id: string, address: string | undefined, k: string | undefined, prefixes: string[]) {
  const n: KnownNode = { id, address, consensusMember: false, runningCurator: false };
  if (k !== undefined) n.clusternet = { wireguardPubkey: k, prefixes };
  return [id, n] as [string, KnownNode];
}

Deno.test("clusternet peers: every other published node, pod prefixes + its address/32", () => {
  const nodes = new Map([
    node("self", "10.1.58.2", SELF, ["10.192.0.0/24", "10.1.58.2/32"]),
    node("b", "10.1.58.3", key(2), ["10.192.1.0/24", "10.1.58.3/32"]),
    node("a", "10.1.58.4", key(3), ["10.192.2.0/24", "10.192.3.0/24", "10.1.58.4/32"]),
  ]);
  assert.deepEqual(desiredPeers({ id: "self", publicKey: SELF }, nodes, 7838), [
    {
      publicKey: key(3),
      endpoint: "10.1.58.4:7838",
      allowedIps: ["10.1.58.4/32", "10.192.2.0/24", "10.192.3.0/24"],
    },
    {
      publicKey: key(2),
      endpoint: "10.1.58.3:7838",
      allowedIps: ["10.1.58.3/32", "10.192.1.0/24"],
    },
  ]);
});

Deno.test("clusternet peers: unusable nodes are skipped, conflicts go to the lower ID", () => {
  const nodes = new Map([
    node("self", "10.1.58.2", SELF, ["10.192.0.0/24"]),
    node("nokey", "10.1.58.5", undefined, []),
    node("badkey", "10.1.58.6", "not-a-key", ["10.192.6.0/24"]),
    node("noaddr", undefined, key(7), ["10.192.7.0/24"]),
    node("samekey", "10.1.58.8", SELF, ["10.192.8.0/24"]),
    node("b", "10.1.58.3", key(2), [
      "10.192.0.128/25", // inside our own prefix: never someone else's
      "10.192.9.0/24",
      "10.1.58.99/32", // not its address, not in the pod network
      "10.192.10.1/24", // not canonical
    ]),
    node("c", "10.1.58.4", key(3), ["10.192.9.0/25", "10.192.11.0/24"]),
    node("d", "10.1.58.9", key(2), ["10.192.12.0/24"]), // b's key again
  ]);
  assert.deepEqual(desiredPeers({ id: "self", publicKey: SELF }, nodes, 7838), [
    { publicKey: key(2), endpoint: "10.1.58.3:7838", allowedIps: ["10.192.9.0/24"] },
    { publicKey: key(3), endpoint: "10.1.58.4:7838", allowedIps: ["10.192.11.0/24"] },
  ]);
  assert.deepEqual(desiredPeers({ id: "self", publicKey: SELF }, new Map(), 7838), []);
});

Deno.test("clusternet peers: diff sets new and changed peers, removes departed ones", () => {
  const p = (k: number, endpoint: string, allowedIps: string[]): WgPeer => ({
    publicKey: key(k),
    endpoint,
    allowedIps,
  });
  const current = [
    p(2, "10.1.58.3:7838", ["10.192.1.0/24", "10.1.58.3/32"]), // kernel order differs: same
    p(3, "10.1.58.4:7838", ["10.192.2.0/24"]),
    p(4, "10.1.58.5:7838", ["10.192.4.0/24"]),
    p(6, "10.1.58.6:40000", ["10.192.6.0/24"]), // roamed endpoint: put back
  ];
  const desired = [
    p(2, "10.1.58.3:7838", ["10.1.58.3/32", "10.192.1.0/24"]),
    p(3, "10.1.58.4:7838", ["10.192.2.0/24", "10.192.3.0/24"]),
    p(5, "10.1.58.7:7838", ["10.192.5.0/24"]),
    p(6, "10.1.58.6:7838", ["10.192.6.0/24"]),
  ];
  assert.deepEqual(diffPeers(current, desired), {
    set: [desired[1], desired[2], desired[3]],
    remove: [key(4)],
  });
  assert.deepEqual(diffPeers(desired, desired), { set: [], remove: [] });
});
