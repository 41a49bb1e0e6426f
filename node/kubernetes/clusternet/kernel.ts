/**
 * The kernel side of direct-mode routing: clusternet's routes in the main table, marked with
 * their own route protocol number so they can be found again after a restart of the agent or
 * of this runnable (stale routes of departed peers are removed then, not leaked).
 * @module
 */
import { NetlinkError, Rtnl } from "../../base/net/rtnl.ts";
import {
  buildMessage,
  decodeAttrs,
  ipv4String,
  NLM_F,
  routeMessage,
  RT_TABLE_MAIN,
  RTA,
  RTM,
  rtmsg,
} from "../../base/net/netlink.ts";
import { parseIPv4, type PodRoute } from "./routes.ts";

/** `rtm_protocol` of clusternet routes (unassigned in iproute2's rt_protos; ours alone). */
export const RTPROT_CLUSTERNET = 77;
const RTM_GETROUTE = 26;
const ESRCH = 3;

/** A clusternet route as installed (with its outgoing interface). */
export interface InstalledRoute extends PodRoute {
  oif: number;
}

/** The operations clusternet needs; {@link KernelRoutes} is the real one, tests fake it. */
export interface RouteTable {
  /** Every route with {@link RTPROT_CLUSTERNET} in the main table. */
  installed(): InstalledRoute[];
  /** Adds or replaces `r` on the link whose subnet holds the gateway; false if none does. */
  replace(r: PodRoute): boolean;
  /** Removes `r` (an absent route is fine). */
  remove(r: InstalledRoute): void;
}

/** Parses an `RTM_NEWROUTE` dump entry; undefined for routes that are not clusternet's. */
export function parseClusternetRoute(p: Uint8Array): InstalledRoute | undefined {
  if (p.length < 12 || p[0] !== 2 /* AF_INET */) return undefined;
  if (p[4] !== RT_TABLE_MAIN || p[5] !== RTPROT_CLUSTERNET) return undefined;
  const attrs = decodeAttrs(p.subarray(12));
  const dst = attrs.get(RTA.DST);
  const gw = attrs.get(RTA.GATEWAY);
  const oif = attrs.get(RTA.OIF);
  if (!gw || gw.length !== 4 || !oif || oif.length !== 4) return undefined;
  return {
    dst: dst && dst.length === 4 ? ipv4String(dst) : "0.0.0.0",
    dstLen: p[1],
    gateway: ipv4String(gw),
    oif: new DataView(oif.buffer, oif.byteOffset, 4).getUint32(0, true),
  };
}

/** The index of the link with an IPv4 subnet holding `ip` (the on-link peer's interface). */
export function onLinkIndex(
  addresses: { index: number; address: string; prefixLen: number }[],
  ip: string,
): number | undefined {
  const n = parseIPv4(ip);
  if (n === undefined) return undefined;
  for (const a of addresses) {
    const base = parseIPv4(a.address);
    if (base === undefined || a.prefixLen >= 32 || a.prefixLen < 1) continue;
    const size = 2 ** (32 - a.prefixLen);
    if (Math.floor(base / size) === Math.floor(n / size) && n !== base) return a.index;
  }
  return undefined;
}

/** {@link RouteTable} over rtnetlink in this process's network namespace. */
export class KernelRoutes implements RouteTable {
  #with<T>(f: (r: Rtnl) => T): T {
    const r = new Rtnl();
    try {
      return f(r);
    } finally {
      r.close();
    }
  }

  installed(): InstalledRoute[] {
    const body = rtmsg(0, 0, 0);
    return this.#with((r) =>
      r.dump(
        (seq) => buildMessage(RTM_GETROUTE, NLM_F.REQUEST | NLM_F.DUMP, seq, body),
        RTM.NEWROUTE,
      )
    ).map(parseClusternetRoute).filter((x) => x !== undefined);
  }

  replace(route: PodRoute): boolean {
    return this.#with((r) => {
      const oif = onLinkIndex(r.addresses(), route.gateway);
      if (oif === undefined) return false;
      r.routeReplace({ ...route, oif, protocol: RTPROT_CLUSTERNET });
      return true;
    });
  }

  remove(route: InstalledRoute): void {
    this.#with((r) => {
      try {
        r.request(
          `delete route ${route.dst}/${route.dstLen}`,
          (seq) => routeMessage(seq, { ...route, protocol: RTPROT_CLUSTERNET }, "del"),
        );
      } catch (e) {
        if (!(e instanceof NetlinkError && e.errno === ESRCH)) throw e;
      }
    });
  }
}
