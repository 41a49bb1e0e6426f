import assert from "node:assert/strict";
import { externalAddress } from "./address.ts";

const iface = (name: string, address: string, family: "IPv4" | "IPv6" = "IPv4") =>
  ({
    name,
    address,
    family,
    netmask: "",
    scopeid: null,
    cidr: "",
    mac: "",
  }) as Deno.NetworkInterfaceInfo;

Deno.test("externalAddress prefers the default-route interface, skips loopback and IPv6", () => {
  const list = [
    iface("lo", "127.0.0.1"),
    iface("eth1", "192.168.1.5"),
    iface("eth0", "10.1.0.2"),
    iface("eth0", "fe80::1", "IPv6"),
  ];
  assert.equal(externalAddress(list, "eth0"), "10.1.0.2");
  assert.equal(externalAddress(list, undefined), "192.168.1.5");
  assert.equal(externalAddress([iface("lo", "127.0.0.1")], undefined), undefined);
});
