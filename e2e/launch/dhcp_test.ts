/** Tier 1: DHCP packet codec, lease rules and replies (testing.md §2.1). */
import assert from "node:assert/strict";
import { type Packet, parsePacket } from "../../node/base/net/dhcp_message.ts";
import { answer, buildReply, Leases, MSG } from "./dhcp.ts";
import { parseSubnet } from "./options.ts";

const SUBNET = parseSubnet("10.1.0.0/24");
const SERVER = "10.1.0.1";

function request(mac: string, type: number, extra: Record<number, number[]> = {}): Packet {
  const b = new Uint8Array(300);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  new DataView(b.buffer).setUint32(4, 0x12345678);
  b.set(mac.split(":").map((x) => parseInt(x, 16)), 28);
  b.set([0x63, 0x82, 0x53, 0x63], 236);
  const opts = [53, 1, type];
  for (const [k, v] of Object.entries(extra)) opts.push(Number(k), v.length, ...v);
  opts.push(255);
  b.set(opts, 240);
  return parsePacket(b);
}

Deno.test("reply codec: OFFER carries address, server, lease 30 s, mask, router; NAK none", () => {
  const req = request("52:54:00:01:00:02", MSG.DISCOVER);
  assert.equal(req.xid, 0x12345678);
  assert.equal(req.chaddr, "52:54:00:01:00:02");
  const r = parsePacket(buildReply(req, MSG.OFFER, "10.1.0.2", SERVER));
  assert.equal(r.op, 2);
  assert.equal(r.xid, 0x12345678);
  assert.equal(r.yiaddr, "10.1.0.2");
  assert.equal(r.chaddr, "52:54:00:01:00:02");
  assert.deepEqual([...r.options.get(53)!], [MSG.OFFER]);
  assert.deepEqual([...r.options.get(54)!], [10, 1, 0, 1]);
  assert.deepEqual([...r.options.get(51)!], [0, 0, 0, 30]);
  assert.deepEqual([...r.options.get(1)!], [255, 255, 255, 0]);
  assert.deepEqual([...r.options.get(3)!], [10, 1, 0, 1]);
  assert.equal(r.options.has(6), false, "no DNS server");
  const nak = parsePacket(buildReply(req, MSG.NAK, "0.0.0.0", SERVER));
  assert.equal(nak.options.has(51), false);
  assert.throws(() => parsePacket(new Uint8Array(100)), /too short/);
});

Deno.test("leases: reserved MACs, lowest free from .100, expiry, release", () => {
  let now = 0;
  const l = new Leases(SUBNET, new Map([["52:54:00:01:00:02", "10.1.0.2"]]), () => now);
  const a = "02:00:00:00:00:0a", b = "02:00:00:00:00:0b";
  assert.equal(l.addressFor("52:54:00:01:00:02"), "10.1.0.2");
  assert.equal(l.addressFor(a), "10.1.0.100");
  l.bind(a, "10.1.0.100");
  assert.equal(l.addressFor(b), "10.1.0.101");
  now += 20_000;
  l.bind(a, "10.1.0.100"); // renewal extends the lease
  now += 20_000;
  assert.equal(l.addressFor(b), "10.1.0.101", "renewed lease still holds .100");
  now += 11_000;
  assert.equal(l.addressFor(b), "10.1.0.100", "expired lease frees .100");
  l.bind(b, "10.1.0.100");
  l.release(b);
  assert.equal(l.addressFor(a), "10.1.0.100");
});

Deno.test("answers: DISCOVER→OFFER, REQUEST→ACK or NAK, other server ignored", () => {
  const l = new Leases(SUBNET, new Map());
  const mac = "02:00:00:00:00:01";
  assert.deepEqual(answer(l, SERVER, request(mac, MSG.DISCOVER)), [MSG.OFFER, "10.1.0.100"]);
  assert.deepEqual(
    answer(l, SERVER, request(mac, MSG.REQUEST, { 50: [10, 1, 0, 100], 54: [10, 1, 0, 1] })),
    [MSG.ACK, "10.1.0.100"],
  );
  assert.deepEqual(
    answer(l, SERVER, request(mac, MSG.REQUEST, { 50: [10, 1, 0, 7] })),
    [MSG.NAK, "0.0.0.0"],
  );
  assert.equal(
    answer(l, SERVER, request(mac, MSG.REQUEST, { 50: [10, 1, 0, 100], 54: [10, 9, 9, 9] })),
    undefined,
  );
  assert.equal(answer(l, SERVER, request(mac, MSG.RELEASE)), undefined);
  assert.deepEqual(
    answer(l, SERVER, request("02:00:00:00:00:02", MSG.DISCOVER)),
    [MSG.OFFER, "10.1.0.100"],
    "released address is free again",
  );
});
