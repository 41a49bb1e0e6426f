/**
 * The kernel side of WireGuard mode: the `clusternet` interface (rtnetlink, kind "wireguard"),
 * its key, port and peers (generic netlink), and the one route sending the whole pod network
 * into it. Per-peer routing is WireGuard's job: a packet goes to the peer whose allowed IPs hold
 * its destination, so no route changes when peers come and go. Local pods stay reachable through
 * the more specific /32 routes the CNI plugin installs per pod.
 * @module
 */
import { NetlinkError, Rtnl } from "../../base/net/rtnl.ts";
import { WireguardClient } from "../../base/wireguard/device.ts";
import { NET, PORTS } from "../paths.ts";
import { RTPROT_CLUSTERNET } from "./kernel.ts";
import type { WgPeer } from "./peers.ts";
import { formatIPv4, parseCidr } from "./routes.ts";

/** Name of the interface (kubernetes.md §8). */
export const CLUSTERNET_LINK = "clusternet";
const ENODEV = 19;

/** The operations WireGuard mode needs; {@link KernelWireguard} is the real one, tests fake it. */
export interface WireguardLink {
  /**
   * Creates the interface afresh (a leftover one, with whatever peers it had, is deleted first)
   * with `privateKey`, the clusternet port and MTU, up, with the pod network routed into it.
   * Resolves to the public key the kernel derived.
   */
  create(privateKey: string): Promise<string>;
  /** The interface's peers as the kernel has them. */
  peers(): WgPeer[];
  /** Adds or updates `set` (allowed IPs replaced), removes the peers with keys in `remove`. */
  apply(set: WgPeer[], remove: string[]): void;
  /** Deletes the interface (its route goes with it); an absent interface is fine. */
  destroy(): void;
}

/** {@link WireguardLink} in this process's network namespace. */
export class KernelWireguard implements WireguardLink {
  #wg<T>(f: (w: WireguardClient) => T): T {
    const w = new WireguardClient();
    try {
      return f(w);
    } finally {
      w.close();
    }
  }

  #rt<T>(f: (r: Rtnl) => T): T {
    const r = new Rtnl();
    try {
      return f(r);
    } finally {
      r.close();
    }
  }

  create(privateKey: string): Promise<string> {
    this.destroy();
    const index = this.#rt((r) => r.linkAdd(CLUSTERNET_LINK, "wireguard", NET.podMtu));
    this.#wg((w) =>
      w.set({
        ifname: CLUSTERNET_LINK,
        privateKey,
        listenPort: PORTS.clusternet,
        replacePeers: true,
      })
    );
    const pods = parseCidr(NET.clusterCidr)!;
    this.#rt((r) => {
      r.linkUp(index);
      r.routeReplace({
        dst: formatIPv4(pods.addr),
        dstLen: pods.bits,
        oif: index,
        protocol: RTPROT_CLUSTERNET,
      });
    });
    return Promise.resolve(this.#wg((w) => w.get(CLUSTERNET_LINK).publicKey));
  }

  peers(): WgPeer[] {
    return this.#wg((w) =>
      w.get(CLUSTERNET_LINK).peers.map((p) => ({
        publicKey: p.publicKey,
        endpoint: p.endpoint,
        allowedIps: p.allowedIps,
      }))
    );
  }

  apply(set: WgPeer[], remove: string[]): void {
    this.#wg((w) =>
      w.set({
        ifname: CLUSTERNET_LINK,
        peers: [
          ...remove.map((publicKey) => ({ publicKey, remove: true })),
          ...set.map((p) => ({ ...p, replaceAllowedIps: true })),
        ],
      })
    );
  }

  destroy(): void {
    this.#rt((r) => {
      const link = r.links().find((l) => l.name === CLUSTERNET_LINK);
      if (!link) return;
      try {
        r.linkDelete(link.index);
      } catch (e) {
        if (!(e instanceof NetlinkError && e.errno === ENODEV)) throw e;
      }
    });
  }
}
