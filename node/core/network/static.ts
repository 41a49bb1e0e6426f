/**
 * Static network configuration (NodeParameters.network_config, `osbase.net.proto.Net`, node.md
 * §6, §15) applied over rtnetlink: each `Interface` with a `device` is matched to a link by MAC
 * (and driver, and the n-th match), renamed to its configured name, given its MTU, brought up,
 * and gets its IPv4 addresses and routes. Interfaces with `ipv4_autoconfig` are handed back for
 * DHCP. Bonds, VLANs and IPv6 are not implemented: they are reported, not silently ignored.
 */
import type { Interface, Net } from "../../../proto/gen/osbase/net/proto/net_pb.ts";
import { ARPHRD_ETHER, IFF, type Link, RTPROT } from "../../base/net/netlink.ts";
import type { Rtnl } from "../../base/net/rtnl.ts";

/** Logger lines of the static configuration. */
export interface StaticLogger {
  info(msg: string): void;
  warning(msg: string): void;
}

/** What the static configuration leaves to the caller. */
export interface StaticResult {
  /** Links with `ipv4_autoconfig`: run DHCP on them. */
  dhcp: Link[];
  /** DNS servers of `Net.nameserver`. */
  nameservers: string[];
}

/** Splits `a.b.c.d[/n]` into address and prefix length (a single IP is /32). */
export function parseCidr(s: string): { address: string; prefixLen: number } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?$/.exec(s.trim());
  if (!m) return undefined;
  const prefixLen = m[2] === undefined ? 32 : Number(m[2]);
  if (prefixLen > 32 || m[1].split(".").some((x) => Number(x) > 255)) return undefined;
  return { address: m[1], prefixLen };
}

function driverOf(name: string): string {
  try {
    return Deno.readLinkSync(`/sys/class/net/${name}/device/driver`).replace(/^.*\//, "");
  } catch {
    return "";
  }
}

/** Picks the link an `Interface` with a `device` means, or undefined. */
export function matchDevice(iface: Interface, links: Link[]): Link | undefined {
  if (iface.type.case !== "device") return links.find((l) => l.name === iface.name);
  const d = iface.type.value;
  const matches = links.filter((l) =>
    l.type === ARPHRD_ETHER &&
    (!d.hardwareAddress || l.mac === d.hardwareAddress.toLowerCase()) &&
    (!d.driver || driverOf(l.name) === d.driver)
  );
  return matches[d.index] ?? undefined;
}

/** Applies `net`; throws on the first kernel refusal (the runnable restarts and retries). */
export function applyStatic(rtnl: Rtnl, net: Net, log: StaticLogger): StaticResult {
  const result: StaticResult = { dhcp: [], nameservers: net.nameserver.map((n) => n.ip) };
  let links = rtnl.links();
  for (const iface of net.interface) {
    if (iface.type.case === "bond" || iface.type.case === "vlan") {
      log.warning(`${iface.name}: ${iface.type.case} interfaces are not supported, skipped`);
      continue;
    }
    const link = matchDevice(iface, links);
    if (!link) {
      log.warning(`${iface.name}: no matching device, skipped`);
      continue;
    }
    if (iface.name && link.name !== iface.name) {
      // A rename needs the link down.
      rtnl.linkSet(link.index, { up: false });
      rtnl.linkSet(link.index, { name: iface.name });
      links = rtnl.links();
    }
    if (iface.mtu) rtnl.linkSet(link.index, { mtu: iface.mtu });
    if (!(link.flags & IFF.UP) || iface.name !== link.name) rtnl.linkUp(link.index);
    const name = iface.name || link.name;
    for (const a of iface.address) {
      const c = parseCidr(a);
      if (!c) {
        log.warning(`${name}: address ${a} is not IPv4 or not valid, skipped`);
        continue;
      }
      rtnl.addressReplace(link.index, c.address, c.prefixLen);
    }
    for (const r of iface.route) {
      const dst = parseCidr(r.destination);
      if (!dst) {
        log.warning(`${name}: route to ${r.destination} is not IPv4 or not valid, skipped`);
        continue;
      }
      rtnl.routeReplace({
        dst: dst.address,
        dstLen: dst.prefixLen,
        gateway: r.gatewayIp || undefined,
        prefsrc: r.sourceIp || undefined,
        metric: r.metric || undefined,
        oif: link.index,
        protocol: RTPROT.STATIC,
      });
    }
    if (iface.ipv6Autoconfig) log.warning(`${name}: IPv6 autoconfiguration is not supported`);
    if (iface.ipv4Autoconfig) result.dhcp.push({ ...link, name });
    log.info(
      `${name}: static ${iface.address.join(", ") || "no address"}` +
        (iface.route.length
          ? `, routes ${iface.route.map((r) => `${r.destination} via ${r.gatewayIp || "link"}`)}`
          : ""),
    );
  }
  return result;
}
