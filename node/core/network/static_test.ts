import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { DeviceSchema, InterfaceSchema } from "../../../proto/gen/osbase/net/proto/net_pb.ts";
import type { Link } from "../../base/net/netlink.ts";
import { isDhcpCandidate } from "./configure.ts";
import { renderResolvConf } from "./resolv.ts";
import { matchDevice, parseCidr } from "./static.ts";

const link = (index: number, name: string, mac: string, extra: Partial<Link> = {}): Link => ({
  index,
  name,
  mac,
  type: 1,
  flags: 0,
  kind: "",
  ...extra,
});

Deno.test("static: CIDR parsing — a single IP is /32, IPv6 and junk are refused", () => {
  assert.deepEqual(parseCidr("10.1.0.2/24"), { address: "10.1.0.2", prefixLen: 24 });
  assert.deepEqual(parseCidr("10.1.0.9"), { address: "10.1.0.9", prefixLen: 32 });
  assert.deepEqual(parseCidr("0.0.0.0/0"), { address: "0.0.0.0", prefixLen: 0 });
  assert.equal(parseCidr("fd00::1/64"), undefined);
  assert.equal(parseCidr("10.1.0.300/24"), undefined);
  assert.equal(parseCidr("10.1.0.2/33"), undefined);
});

Deno.test("static: device matching by MAC (any case), n-th match, name fallback", () => {
  const links = [
    link(1, "lo", "00:00:00:00:00:00", { type: 772 }),
    link(2, "eth0", "52:54:00:01:00:02"),
    link(3, "eth1", "52:54:00:01:00:03"),
  ];
  const byMac = (mac: string, index = 0) =>
    create(InterfaceSchema, {
      name: "uplink",
      type: { case: "device", value: create(DeviceSchema, { hardwareAddress: mac, index }) },
    });
  assert.equal(matchDevice(byMac("52:54:00:01:00:03"), links)?.name, "eth1");
  assert.equal(matchDevice(byMac("52:54:00:01:00:02".toUpperCase()), links)?.name, "eth0");
  assert.equal(matchDevice(byMac(""), links)?.name, "eth0", "no MAC: first Ethernet link");
  assert.equal(matchDevice(byMac("", 1), links)?.name, "eth1", "index picks the n-th match");
  assert.equal(matchDevice(byMac("02:00:00:00:00:01"), links), undefined);
  assert.equal(matchDevice(create(InterfaceSchema, { name: "eth1" }), links)?.index, 3);
});

Deno.test("DHCP runs on NICs and veths, not on loopback or bridges; resolv.conf lines", () => {
  assert.equal(isDhcpCandidate(link(2, "eth0", "52:54:00:01:00:02")), true);
  assert.equal(isDhcpCandidate(link(2, "eth0", "52:54:00:01:00:02", { kind: "veth" })), true);
  assert.equal(isDhcpCandidate(link(4, "br0", "02:00:00:00:00:01", { kind: "bridge" })), false);
  assert.equal(isDhcpCandidate(link(1, "lo", "", { type: 772, flags: 8 })), false);
  assert.equal(renderResolvConf([]), "");
  assert.equal(
    renderResolvConf(["10.1.0.53", "9.9.9.9", "10.1.0.53"]),
    "nameserver 10.1.0.53\nnameserver 9.9.9.9\n",
  );
});
