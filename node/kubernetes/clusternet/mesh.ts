/**
 * WireGuard mode's runnable: brings up the `clusternet` interface with this node's key and keeps
 * its peers equal to {@link desiredPeers} of the node list, one diff per change of the list.
 * The interface exists exactly as long as the runnable: it is removed when the runnable stops
 * (role gone, or a failure the supervisor restarts it after), so no stale tunnel outlives it.
 * @module
 */
import type { Value } from "../../base/event/value.ts";
import { type Runnable, signal } from "../../base/supervisor/supervisor.ts";
import type { KeyPair } from "../../base/wireguard/key.ts";
import type { KnownNode } from "../../core/roleserve/context.ts";
import { PORTS } from "../paths.ts";
import { desiredPeers, diffPeers, type WgPeer } from "./peers.ts";
import { CLUSTERNET_LINK, type WireguardLink } from "./wglink.ts";

/** Options of {@link mesh}. */
export interface MeshOptions {
  nodeId: string;
  keys: KeyPair;
  nodes: Value<Map<string, KnownNode>>;
  link: WireguardLink;
}

/** `key@endpoint [allowed IPs]`: the key lets an operator match a peer to a published record. */
const describe = (p: WgPeer) => `${p.publicKey}@${p.endpoint} [${p.allowedIps.join(" ")}]`;

/** The WireGuard mesh runnable. */
export function mesh(o: MeshOptions): Runnable {
  return async (ctx) => {
    const kernelKey = await o.link.create(o.keys.privateKey);
    try {
      if (kernelKey !== o.keys.publicKey) {
        // We publish the derived key: a mismatch would make every peer drop our handshakes.
        throw new Error(`kernel public key ${kernelKey} differs from ours ${o.keys.publicKey}`);
      }
      ctx.logger.info(
        `interface ${CLUSTERNET_LINK} up: public key ${kernelKey}, UDP ${PORTS.clusternet}`,
      );
      let healthy = false;
      for await (const nodes of o.nodes.watch({ signal: ctx.signal })) {
        const desired = desiredPeers({ id: o.nodeId, publicKey: o.keys.publicKey }, nodes);
        const d = diffPeers(o.link.peers(), desired);
        if (d.set.length || d.remove.length) {
          o.link.apply(d.set, d.remove);
          ctx.logger.info(
            `peers: ${desired.length} (${desired.map(describe).join(", ")}); ` +
              `${d.set.length} set, ${d.remove.length} removed`,
          );
        }
        if (!healthy) (healthy = true, signal(ctx, "healthy"));
      }
      if (!ctx.signal.aborted) throw new Error("the node list watch ended");
    } finally {
      o.link.destroy();
    }
  };
}
