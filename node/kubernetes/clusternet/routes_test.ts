import assert from "node:assert/strict";
import type { KnownNode } from "../../core/roleserve/context.ts";
import { desiredRoutes, diffRoutes, parseCidr } from "./routes.ts";

function node(id: string, address?: string, prefixes?: string[]): [string, KnownNode] {
  return [id, {
    id,
    address,
    consensusMember: false,
    runningCurator: false,
    ...(prefixes ? { clusternet: { wireguardPubkey: `k${id}`, prefixes } } : {}),
  }];
}

Deno.test("one route per peer pod prefix via the peer's address, none for ourselves", () => {
  const nodes = new Map([
    node("self", "10.1.0.2", ["10.192.0.0/24", "10.1.0.2/32"]),
    node("b", "10.1.0.3", ["10.192.1.0/24", "10.1.0.3/32"]),
    node("c", "10.1.0.4", ["10.192.2.0/24", "10.192.3.0/24", "10.1.0.4/32"]),
  ]);
  assert.deepEqual(desiredRoutes({ id: "self", address: "10.1.0.2" }, nodes), [
    { dst: "10.192.1.0", dstLen: 24, gateway: "10.1.0.3" },
    { dst: "10.192.2.0", dstLen: 24, gateway: "10.1.0.4" },
    { dst: "10.192.3.0", dstLen: 24, gateway: "10.1.0.4" },
  ]);
});

Deno.test("peers without an address or without published prefixes get no routes", () => {
  const nodes = new Map([
    node("a", undefined, ["10.192.1.0/24"]),
    node("b", "10.1.0.3"),
    node("c", "10.1.0.4", []),
  ]);
  assert.deepEqual(desiredRoutes({ id: "self", address: "10.1.0.2" }, nodes), []);
});

Deno.test("without our own address nothing is routed", () => {
  const nodes = new Map([node("b", "10.1.0.3", ["10.192.1.0/24"])]);
  assert.deepEqual(desiredRoutes({ id: "self" }, nodes), []);
});

Deno.test("prefixes outside the pod network, malformed or overlapping ours are ignored", () => {
  const nodes = new Map([
    node("self", "10.1.0.2", ["10.192.0.0/24"]),
    node("b", "10.1.0.3", [
      "10.1.0.3/32",
      "0.0.0.0/0",
      "10.224.0.0/16",
      "10.192.9.1/24",
      "garbage",
      "10.192.0.128/25",
      "10.192.1.0/24",
    ]),
  ]);
  assert.deepEqual(desiredRoutes({ id: "self", address: "10.1.0.2" }, nodes), [
    { dst: "10.192.1.0", dstLen: 24, gateway: "10.1.0.3" },
  ]);
});

Deno.test("a prefix claimed by two peers goes to the lower node ID whatever the map order", () => {
  const a = node("aaa", "10.1.0.3", ["10.192.1.0/24"]);
  const z = node("zzz", "10.1.0.9", ["10.192.1.0/24"]);
  const want = [{ dst: "10.192.1.0", dstLen: 24, gateway: "10.1.0.3" }];
  assert.deepEqual(desiredRoutes({ id: "s", address: "10.1.0.2" }, new Map([a, z])), want);
  assert.deepEqual(desiredRoutes({ id: "s", address: "10.1.0.2" }, new Map([z, a])), want);
});

Deno.test("a peer claiming our own address gets no routes", () => {
  const nodes = new Map([node("b", "10.1.0.2", ["10.192.1.0/24"])]);
  assert.deepEqual(desiredRoutes({ id: "self", address: "10.1.0.2" }, nodes), []);
});

Deno.test("the diff replaces new and re-homed routes and removes departed ones", () => {
  const r = (dst: string, gateway: string) => ({ dst, dstLen: 24, gateway });
  const d = diffRoutes(
    [r("10.192.1.0", "10.1.0.3"), r("10.192.2.0", "10.1.0.4"), r("10.192.3.0", "10.1.0.5")],
    [r("10.192.1.0", "10.1.0.3"), r("10.192.2.0", "10.1.0.9"), r("10.192.4.0", "10.1.0.6")],
  );
  assert.deepEqual(d.replace, [r("10.192.2.0", "10.1.0.9"), r("10.192.4.0", "10.1.0.6")]);
  assert.deepEqual(d.remove, [r("10.192.3.0", "10.1.0.5")]);
});

Deno.test("CIDR parsing is canonical", () => {
  assert.deepEqual(parseCidr("10.192.0.0/11"), { addr: 0x0ac00000, bits: 11 });
  assert.equal(parseCidr("10.192.0.1/24"), undefined);
  assert.equal(parseCidr("10.192.0.0/33"), undefined);
  assert.equal(parseCidr("010.192.0.0/24"), undefined);
  assert.equal(parseCidr("10.192.0.0"), undefined);
});
