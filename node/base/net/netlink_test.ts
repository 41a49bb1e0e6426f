import assert from "node:assert/strict";
import {
  addrMessage,
  broadcastOf,
  decodeAttrs,
  IFF,
  linkAddMessage,
  linkDelMessage,
  linkSetMessage,
  NLM_F,
  parseAddress,
  parseLink,
  routeMessage,
  RTM,
  RTPROT,
  splitMessages,
} from "./netlink.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("netlink: link up is RTM_NEWLINK with IFF_UP in flags and change mask", () => {
  const m = linkSetMessage(7, 3, { up: true });
  // len 32, type 16, flags REQUEST|ACK, seq 7, pid 0 | family 0, type 0, index 3, flags 1, change 1
  assert.equal(
    hex(m),
    "20000000" + "1000" + "0500" + "07000000" + "00000000" +
      "0000" + "0000" + "03000000" + "01000000" + "01000000",
  );
  const [r] = splitMessages(m);
  assert.deepEqual([r.type, r.flags, r.seq], [RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK, 7]);
  const rename = linkSetMessage(1, 3, { name: "eth0", mtu: 1400 });
  const attrs = decodeAttrs(splitMessages(rename)[0].payload.subarray(16));
  assert.equal(new TextDecoder().decode(attrs.get(3)), "eth0\0");
  assert.equal(
    new DataView(attrs.get(4)!.buffer, attrs.get(4)!.byteOffset).getUint32(0, true),
    1400,
  );
  assert.equal(new DataView(rename.buffer).getUint32(28, true), 0, "no change mask: up untouched");
});

Deno.test("netlink: address add carries LOCAL, ADDRESS, BROADCAST; delete has no CREATE", () => {
  const m = addrMessage(2, 5, "10.1.0.2", 24, "replace");
  const [r] = splitMessages(m);
  assert.equal(r.type, RTM.NEWADDR);
  assert.equal(r.flags, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE);
  // ifaddrmsg: AF_INET, /24, flags 0, scope 0, index 5.
  assert.equal(hex(r.payload.subarray(0, 8)), "0218000005000000");
  const attrs = decodeAttrs(r.payload.subarray(8));
  assert.deepEqual([...attrs.get(2)!], [10, 1, 0, 2]);
  assert.deepEqual([...attrs.get(1)!], [10, 1, 0, 2]);
  assert.deepEqual([...attrs.get(4)!], [10, 1, 0, 255]);
  const del = splitMessages(addrMessage(3, 5, "10.1.0.2", 24, "del"))[0];
  assert.equal(del.type, RTM.DELADDR);
  assert.equal(del.flags, NLM_F.REQUEST | NLM_F.ACK);
  assert.equal(parseAddress(r.payload)?.address, "10.1.0.2");
  assert.equal(broadcastOf("192.168.7.9", 20), "192.168.15.255");
  assert.equal(broadcastOf("10.0.0.1", 32), "10.0.0.1");
});

Deno.test("netlink: default route via gateway, universe scope, main table, prefsrc", () => {
  const m = routeMessage(
    4,
    {
      dst: "0.0.0.0",
      dstLen: 0,
      gateway: "10.1.0.1",
      oif: 2,
      prefsrc: "10.1.0.2",
      protocol: RTPROT.DHCP,
    },
    "replace",
  );
  const [r] = splitMessages(m);
  assert.equal(r.type, RTM.NEWROUTE);
  // rtmsg: AF_INET, dst_len 0, src_len 0, tos 0, table 254, proto 16, scope 0, type unicast.
  assert.equal(hex(r.payload.subarray(0, 12)), "02000000" + "fe100001" + "00000000");
  const attrs = decodeAttrs(r.payload.subarray(12));
  assert.equal(attrs.has(1), false, "no RTA_DST for /0");
  assert.deepEqual([...attrs.get(5)!], [10, 1, 0, 1]);
  assert.deepEqual([...attrs.get(4)!], [2, 0, 0, 0]);
  assert.deepEqual([...attrs.get(7)!], [10, 1, 0, 2]);
  // Directly connected: link scope, with a destination.
  const link = splitMessages(
    routeMessage(5, { dst: "10.2.0.0", dstLen: 16, oif: 2, protocol: RTPROT.STATIC }, "replace"),
  )[0];
  assert.equal(link.payload[6], 253);
  assert.deepEqual([...decodeAttrs(link.payload.subarray(12)).get(1)!], [10, 2, 0, 0]);
});

Deno.test("netlink: parses a link dump entry (name, MAC, flags, kind)", () => {
  // ifinfomsg + IFNAME "eth0" + ADDRESS + LINKINFO{KIND "veth"}, as the kernel sends them.
  const body = new Uint8Array(16);
  const dv = new DataView(body.buffer);
  dv.setUint16(2, 1, true);
  dv.setInt32(4, 9, true);
  dv.setUint32(8, IFF.UP | IFF.LOWER_UP, true);
  const attr = (t: number, d: number[]) => {
    const len = 4 + d.length;
    const pad = (4 - (len % 4)) % 4;
    return [len & 255, len >> 8, t & 255, t >> 8, ...d, ...new Array(pad).fill(0)];
  };
  const kind = attr(1, [...new TextEncoder().encode("veth\0")]);
  const payload = new Uint8Array([
    ...body,
    ...attr(3, [...new TextEncoder().encode("eth0\0")]),
    ...attr(1, [0x52, 0x54, 0, 1, 0, 2]),
    ...attr(18 | 0x8000, kind),
  ]);
  assert.deepEqual(parseLink(payload), {
    index: 9,
    type: 1,
    flags: IFF.UP | IFF.LOWER_UP,
    name: "eth0",
    mac: "52:54:00:01:00:02",
    kind: "veth",
  });
});

Deno.test("netlink: link add names the link, sets MTU and nests IFLA_INFO_KIND in LINKINFO", () => {
  const m = linkAddMessage(9, "clusternet", "wireguard", 1420);
  const name = [..."clusternet"].map((c) => c.charCodeAt(0).toString(16)).join("") + "00" + "00";
  const kind = [..."wireguard"].map((c) => c.charCodeAt(0).toString(16)).join("") + "000000";
  // len 76, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE (0x605), seq 9 | empty ifinfomsg |
  // IFNAME (len 15) | MTU (len 8) 1420 | LINKINFO|NLA_F_NESTED (len 20) { INFO_KIND (len 13) }
  assert.equal(
    hex(m),
    "4c000000" + "1000" + "0506" + "09000000" + "00000000" +
      "00".repeat(16) +
      "0f00" + "0300" + name +
      "0800" + "0400" + "8c050000" +
      "1400" + "1280" + "0d00" + "0100" + kind,
  );
  const del = linkDelMessage(4, 12);
  // len 32, RTM_DELLINK, REQUEST|ACK, seq 4 | ifinfomsg with index 12
  assert.equal(
    hex(del),
    "20000000" + "1100" + "0500" + "04000000" + "00000000" +
      "0000" + "0000" + "0c000000" + "00000000" + "00000000",
  );
});

Deno.test("netlink: parseLink reads the kind back out of a nested LINKINFO", () => {
  const m = splitMessages(linkAddMessage(1, "clusternet", "wireguard"))[0];
  const l = parseLink(m.payload);
  assert.deepEqual([l.name, l.kind], ["clusternet", "wireguard"]);
});
