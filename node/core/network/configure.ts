/**
 * The network configuration loop (node.md §15), independent of the supervisor so it can run in a
 * bare network namespace under test: `lo` up; with a static `Net` apply it (plus DHCP on its
 * `ipv4_autoconfig` interfaces); without, bring every Ethernet link up and run a DHCPv4 client on
 * each one that has carrier (checked every second, so a cable plugged in later is picked up; a
 * link that loses its carrier gives up its lease).
 * resolv.conf follows the DNS servers of all leases (or the static ones).
 */
import { delay as sleep } from "../../base/delay/delay.ts";
import type { Net } from "../../../proto/gen/osbase/net/proto/net_pb.ts";
import { runDhcpClient } from "../../base/net/dhcp_client.ts";
import type { Lease } from "../../base/net/dhcp_message.ts";
import { ARPHRD_ETHER, IFF, type Link } from "../../base/net/netlink.ts";
import { Rtnl } from "../../base/net/rtnl.ts";
import { DeviceSocket } from "../../base/net/udp.ts";
import { applyLease, removeLease } from "./lease.ts";
import { writeResolvConf } from "./resolv.ts";
import { applyStatic } from "./static.ts";

/** A link's DHCP client: when it ends, how to stop it, and the lease it holds. */
interface DhcpLink {
  done: Promise<void>;
  stop: AbortController;
  lease?: Lease;
}

/** Logger of the network service. */
export interface NetLogger {
  info(msg: string): void;
  warning(msg: string): void;
  error(msg: string): void;
}

/** Options of {@link configureNetwork}. */
export interface ConfigureOptions {
  /** Static configuration; undefined → DHCP on every Ethernet link with carrier. */
  config?: Net;
  /** Where resolv.conf goes. */
  resolvConf: string;
  logger: NetLogger;
  signal: AbortSignal;
  /** Called after every change of addresses or routes (the address watcher re-reads). */
  onChange?: () => void;
}

/** Ethernet links DHCP runs on: physical NICs and veths (not bridges, bonds, tunnels, …). */
export function isDhcpCandidate(l: Link): boolean {
  return l.type === ARPHRD_ETHER && !(l.flags & IFF.LOOPBACK) &&
    (l.kind === "" || l.kind === "veth");
}

/** Runs until `signal` aborts; throws when the kernel refuses the static configuration. */
export async function configureNetwork(o: ConfigureOptions): Promise<void> {
  const rtnl = new Rtnl();
  const dns = new Map<string, string[]>();
  let staticDns: string[] = [];
  const updateResolv = async () => {
    const servers = [...staticDns, ...[...dns.values()].flat()];
    await writeResolvConf(o.resolvConf, servers).catch((e) =>
      o.logger.warning(`cannot write ${o.resolvConf}: ${(e as Error).message}`)
    );
  };

  const clients = new Map<number, DhcpLink>();

  /** Removes a lease's address and route and its DNS servers (also when the removal fails). */
  const forget = async (link: Link, entry: DhcpLink, lease: Lease) => {
    entry.lease = undefined;
    try {
      removeLease(rtnl, link.index, lease);
    } finally {
      o.onChange?.();
      dns.delete(link.name);
      await updateResolv();
    }
  };

  const startDhcp = (link: Link) => {
    const entry: DhcpLink = { done: Promise.resolve(), stop: new AbortController() };
    entry.done = (async () => {
      const sock = new DeviceSocket(link.name, 68);
      try {
        await runDhcpClient({
          iface: link.name,
          mac: link.mac,
          transport: sock,
          logger: o.logger,
          signal: AbortSignal.any([o.signal, entry.stop.signal]),
          hooks: {
            bound: async (lease, prev) => {
              applyLease(rtnl, link.index, lease, prev);
              entry.lease = lease;
              o.onChange?.();
              if (!prev || prev.dns.join() !== lease.dns.join()) {
                dns.set(link.name, lease.dns);
                await updateResolv();
              }
            },
            lost: (lease) => forget(link, entry, lease),
          },
        });
      } catch (e) {
        o.logger.error(`${link.name}: dhcp client failed: ${(e as Error).message}`);
      } finally {
        await sock.close();
      }
    })();
    clients.set(link.index, entry);
    // A failed client is restarted by the link loop after it ended (1 s later at the earliest).
    entry.done.finally(() => {
      if (clients.get(link.index) === entry) clients.delete(link.index);
    });
  };

  /**
   * Carrier gone (cable pulled, peer down): stop the link's client and give up its lease, so the
   * node does not keep an address that may belong to another network when the carrier returns.
   */
  const carrierLost = async (link: Link) => {
    const c = clients.get(link.index);
    if (!c) return;
    clients.delete(link.index);
    c.stop.abort();
    await c.done;
    const lease = c.lease;
    o.logger.info(`${link.name}: carrier lost` + (lease ? `, dropped ${lease.address}` : ""));
    if (lease) {
      await forget(link, c, lease).catch((e) =>
        o.logger.warning(`${link.name}: removing ${lease.address}: ${(e as Error).message}`)
      );
    }
  };

  try {
    const lo = rtnl.links().find((l) => l.flags & IFF.LOOPBACK);
    if (lo && !(lo.flags & IFF.UP)) rtnl.linkUp(lo.index);
    let dhcpOnly: Set<number> | undefined;
    if (o.config) {
      const r = applyStatic(rtnl, o.config, o.logger);
      staticDns = r.nameservers;
      dhcpOnly = new Set(r.dhcp.map((l) => l.index));
      o.onChange?.();
    }
    await updateResolv();
    if (dhcpOnly?.size === 0) {
      await sleep(Infinity, o.signal);
      return;
    }
    const announced = new Set<number>();
    while (!o.signal.aborted) {
      let broughtUp = false;
      for (const l of rtnl.links()) {
        if (dhcpOnly ? !dhcpOnly.has(l.index) : !isDhcpCandidate(l)) continue;
        if (!(l.flags & IFF.UP)) {
          rtnl.linkUp(l.index);
          broughtUp = true;
        }
        if (!(l.flags & IFF.LOWER_UP)) {
          if (clients.has(l.index)) {
            await carrierLost(l);
            announced.delete(l.index);
          }
          continue;
        }
        if (clients.has(l.index)) continue;
        if (!announced.has(l.index)) {
          o.logger.info(`${l.name}: carrier, starting DHCP (mac ${l.mac})`);
          announced.add(l.index);
        }
        startDhcp(l);
      }
      // Carrier follows a fresh IFF_UP within milliseconds on veths: look again soon.
      await sleep(broughtUp ? 50 : 1000, o.signal);
    }
  } finally {
    await Promise.all([...clients.values()].map((c) => c.done));
    rtnl.close();
  }
}
