import assert from "node:assert/strict";
import {
  buildRequest,
  DHCP,
  leaseOf,
  messageType,
  OPT,
  parsePacket,
  prefixLength,
  VENDOR_CLASS,
} from "./dhcp_message.ts";

const MAC = "52:54:00:01:00:02";

/** A server answer as the launcher's server builds it (op 2, options after the cookie). */
function reply(type: number, yiaddr: number[], opts: number[]): Uint8Array {
  const b = new Uint8Array(300);
  b[0] = 2;
  b[1] = 1;
  b[2] = 6;
  new DataView(b.buffer).setUint32(4, 0xabcdef01);
  b.set(yiaddr, 16);
  b.set([0x52, 0x54, 0, 1, 0, 2], 28);
  b.set([0x63, 0x82, 0x53, 0x63], 236);
  b.set([53, 1, type, ...opts, 255], 240);
  return b;
}

Deno.test("dhcp: DISCOVER has broadcast flag, vendor class, client id, parameter list", () => {
  const b = buildRequest({ type: DHCP.DISCOVER, xid: 0x01020304, mac: MAC });
  assert.equal(b.length, 300);
  const p = parsePacket(b);
  assert.equal(p.op, 1);
  assert.equal(p.xid, 0x01020304);
  assert.equal(p.chaddr, MAC);
  assert.equal(p.ciaddr, "0.0.0.0");
  assert.equal(new DataView(b.buffer).getUint16(10), 0x8000, "BROADCAST flag");
  assert.equal(messageType(p), DHCP.DISCOVER);
  assert.equal(new TextDecoder().decode(p.options.get(OPT.VENDOR_CLASS)), VENDOR_CLASS);
  assert.equal(VENDOR_CLASS, "dev.monogon.metropolis.node.v1");
  assert.deepEqual([...p.options.get(OPT.CLIENT_ID)!], [1, 0x52, 0x54, 0, 1, 0, 2]);
  assert.deepEqual([...p.options.get(OPT.PARAMETER_LIST)!], [1, 3, 6, 51, 54, 58, 59]);
  assert.equal(p.options.has(OPT.REQUESTED_IP), false);
});

Deno.test("dhcp: REQUEST in SELECTING names address and server; renewal uses ciaddr", () => {
  const sel = parsePacket(buildRequest({
    type: DHCP.REQUEST,
    xid: 1,
    mac: MAC,
    requestedIp: "10.1.0.2",
    serverId: "10.1.0.1",
  }));
  assert.deepEqual([...sel.options.get(OPT.REQUESTED_IP)!], [10, 1, 0, 2]);
  assert.deepEqual([...sel.options.get(OPT.SERVER_ID)!], [10, 1, 0, 1]);
  const renewBytes = buildRequest({ type: DHCP.REQUEST, xid: 2, mac: MAC, ciaddr: "10.1.0.2" });
  const renew = parsePacket(renewBytes);
  assert.equal(renew.ciaddr, "10.1.0.2");
  assert.equal(new DataView(renewBytes.buffer).getUint16(10), 0, "no BROADCAST flag");
  assert.equal(renew.options.has(OPT.REQUESTED_IP), false);
  assert.equal(renew.options.has(OPT.SERVER_ID), false);
});

Deno.test("dhcp: lease from an ACK — mask, routers, DNS, T1/T2 defaults and explicit", () => {
  const ack = parsePacket(reply(DHCP.ACK, [10, 1, 0, 2], [
    54,
    4,
    10,
    1,
    0,
    1,
    51,
    4,
    0,
    0,
    0,
    30,
    1,
    4,
    255,
    255,
    255,
    0,
    3,
    4,
    10,
    1,
    0,
    1,
    6,
    8,
    10,
    1,
    0,
    53,
    8,
    8,
    8,
    8,
  ]));
  assert.equal(messageType(ack), DHCP.ACK);
  assert.deepEqual(leaseOf(ack), {
    address: "10.1.0.2",
    prefixLen: 24,
    serverId: "10.1.0.1",
    routers: ["10.1.0.1"],
    dns: ["10.1.0.53", "8.8.8.8"],
    leaseSeconds: 30,
    t1: 15,
    t2: 26,
  });
  const explicit = leaseOf(parsePacket(reply(DHCP.ACK, [192, 168, 1, 9], [
    54,
    4,
    192,
    168,
    1,
    1,
    51,
    4,
    0,
    0,
    14,
    16,
    58,
    4,
    0,
    0,
    0,
    100,
    59,
    4,
    0,
    0,
    0,
    200,
  ])));
  assert.equal(explicit.leaseSeconds, 3600);
  assert.equal(explicit.t1, 100);
  assert.equal(explicit.t2, 200);
  assert.equal(explicit.prefixLen, 24, "classful when the server sends no mask");
  assert.deepEqual(explicit.routers, []);
  assert.throws(() => leaseOf(parsePacket(reply(DHCP.NAK, [0, 0, 0, 0], []))), /no address/);
});

Deno.test("dhcp: malformed packets and netmasks are rejected", () => {
  assert.throws(() => parsePacket(new Uint8Array(239)), /too short/);
  assert.throws(() => parsePacket(new Uint8Array(300)), /cookie/);
  const overrun = reply(DHCP.ACK, [10, 1, 0, 2], []);
  overrun.set([51, 200], 243);
  assert.throws(() => parsePacket(overrun), /overruns/);
  assert.equal(prefixLength("255.255.255.0"), 24);
  assert.equal(prefixLength("255.255.240.0"), 20);
  assert.equal(prefixLength("255.255.255.255"), 32);
  assert.equal(prefixLength("0.0.0.0"), 0);
  assert.throws(() => prefixLength("255.0.255.0"), /not contiguous/);
  assert.throws(() => buildRequest({ type: DHCP.DISCOVER, xid: 1, mac: "nope" }), /not a MAC/);
});
