/**
 * Applies a DHCP lease to the kernel over rtnetlink: the address with its prefix, the default
 * route via the first router (with the leased address as preferred source, so the kernel drops
 * the route together with the address when the lease is lost).
 */
import type { Lease } from "../../base/net/dhcp_message.ts";
import { RTPROT } from "../../base/net/netlink.ts";
import type { Rtnl } from "../../base/net/rtnl.ts";

/** Configures `lease` on link `index`, removing `previous`'s address when it changed. */
export function applyLease(rtnl: Rtnl, index: number, lease: Lease, previous?: Lease): void {
  rtnl.addressReplace(index, lease.address, lease.prefixLen);
  if (
    previous &&
    (previous.address !== lease.address || previous.prefixLen !== lease.prefixLen)
  ) {
    rtnl.addressDelete(index, previous.address, previous.prefixLen);
  }
  const router = lease.routers[0];
  if (router) {
    rtnl.routeReplace({
      dst: "0.0.0.0",
      dstLen: 0,
      gateway: router,
      oif: index,
      prefsrc: lease.address,
      protocol: RTPROT.DHCP,
    });
  }
}

/** Removes a lost lease's address (its routes go with it). */
export function removeLease(rtnl: Rtnl, index: number, lease: Lease): void {
  rtnl.addressDelete(index, lease.address, lease.prefixLen);
}
