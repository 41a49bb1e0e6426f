/**
 * clusternet (kubernetes.md §8, DN `…worker.clusternet`), in one of two modes chosen by the
 * platform's `wireguard` capability. Children, so that an unreachable apiserver or curator does
 * not take the data path down with it:
 * - `publish`: watches this node's Kubernetes Node for `spec.podCIDRs` and publishes them with
 *   the node's address/32 and this node's key through `Curator.UpdateNodeClusterNetworking`
 *   whenever they change;
 * - WireGuard mode, `wireguard`: the `clusternet` interface with the node's X25519 key (kept in
 *   `private.key`; the public key is what is published) and one peer per other node (mesh.ts);
 * - direct mode (no WireGuard in the kernel), `routes`: one route per peer pod prefix via the
 *   peer's address (shared L2) in the main table; the published key is a placeholder (key.ts).
 * Either data path follows the node list and is removed when stopped.
 * @module
 */
import { Curator } from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { Value } from "../../base/event/value.ts";
import {
  type Context,
  run,
  type Runnable,
  signal,
  untilAborted,
} from "../../base/supervisor/supervisor.ts";
import type { KnownNode } from "../../core/roleserve/context.ts";
import type { KubeClient, KubeObject } from "../client/client.ts";
import type { CuratorClient } from "../deps.ts";
import { inform } from "../dns/informer.ts";
import { type InstalledRoute, KernelRoutes, type RouteTable } from "./kernel.ts";
import { placeholderKey } from "./key.ts";
import { mesh } from "./mesh.ts";
import { KernelWireguard, type WireguardLink } from "./wglink.ts";
import { loadOrCreateKey } from "../../base/wireguard/key.ts";
import { desiredRoutes, diffRoutes, podPrefix, routeKey } from "./routes.ts";

/** Options of {@link clusternet}. */
export interface ClusternetOptions {
  nodeId: string;
  address: Value<string | undefined>;
  nodes: Value<Map<string, KnownNode>>;
  client: KubeClient;
  curator: CuratorClient;
  wireguard: boolean;
}

/** Where the node's keys live (WireGuard private key, or the direct-mode placeholder). */
export const CLUSTERNET_DIR = "/data/kubernetes/clusternet";
/** File of the WireGuard private key (base64) below {@link CLUSTERNET_DIR}. */
export const PRIVATE_KEY_FILE = "private.key";

/** The clusternet runnable. */
export function clusternet(o: ClusternetOptions): Runnable {
  return clusternetWith({
    ...o,
    keyDir: CLUSTERNET_DIR,
    routes: new KernelRoutes(),
    link: new KernelWireguard(),
  });
}

/** {@link clusternet} with the key directory and the kernel sides injected (tests). */
export function clusternetWith(
  o: ClusternetOptions & { keyDir: string; routes: RouteTable; link: WireguardLink },
): Runnable {
  return async (ctx: Context) => {
    if (o.wireguard) {
      const keys = await loadOrCreateKey(`${o.keyDir}/${PRIVATE_KEY_FILE}`);
      if (keys.created) ctx.logger.info(`new WireGuard key, public key ${keys.publicKey}`);
      run(ctx, "publish", publisher({ ...o, key: keys.publicKey }));
      run(ctx, "wireguard", mesh({ nodeId: o.nodeId, keys, nodes: o.nodes, link: o.link }));
    } else {
      run(ctx, "publish", publisher({ ...o, key: await placeholderKey(o.keyDir) }));
      run(ctx, "routes", router(o));
    }
    signal(ctx, "healthy");
    await untilAborted(ctx);
  };
}

/** The pod CIDRs of a Node object that the curator will accept (canonical, in the pod net). */
export function nodePodCidrs(node: KubeObject): string[] {
  const spec = node?.spec ?? {};
  const raw: unknown[] = Array.isArray(spec.podCIDRs)
    ? spec.podCIDRs
    : typeof spec.podCIDR === "string"
    ? [spec.podCIDR]
    : [];
  return raw.filter((c): c is string => typeof c === "string" && podPrefix(c) !== undefined);
}

/**
 * Change notification over several values: {@link next} resolves once any of them was set since
 * the previous call (the first call resolves at once), or when `signal` aborts.
 */
class AnyChange {
  #dirty = true;
  #wake?: () => void;
  constructor(
    values: { watch(o: { signal: AbortSignal }): AsyncIterable<unknown> }[],
    readonly signal: AbortSignal,
  ) {
    for (const v of values) {
      (async () => {
        for await (const _ of v.watch({ signal })) this.#poke();
      })().catch(() => {});
    }
    signal.addEventListener("abort", () => this.#wake?.(), { once: true });
  }
  #poke(): void {
    this.#dirty = true;
    this.#wake?.();
  }
  /** Waits until something changed since the last call; throws once aborted. */
  async next(): Promise<void> {
    while (!this.#dirty && !this.signal.aborted) {
      await new Promise<void>((r) => this.#wake = r);
    }
    this.#wake = undefined;
    this.#dirty = false;
    this.signal.throwIfAborted();
  }
}

/** Publishes `[podCIDRs…, address/32]` with `key` whenever they change. */
function publisher(o: ClusternetOptions & { key: string }): Runnable {
  return async (ctx) => {
    const key = o.key;
    const podCidrs = new Value<string[]>();
    const path = `/api/v1/nodes?fieldSelector=${encodeURIComponent(`metadata.name=${o.nodeId}`)}`;
    const informer = inform({
      client: o.client,
      path,
      parse: (n) => n,
      signal: ctx.signal,
      onChange: (m) => {
        const cidrs = nodePodCidrs([...m.values()][0]);
        if (cidrs.join(",") !== (podCidrs.get() ?? []).join(",") || !podCidrs.isSet) {
          podCidrs.set(cidrs);
        }
      },
    });
    informer.catch(() => {});
    await Promise.race([informer, podCidrs.waitFor(() => true, ctx.signal)]);
    signal(ctx, "healthy");
    const changes = new AnyChange([o.address, podCidrs], ctx.signal);
    let published = "";
    const publishing = (async () => {
      for (;;) {
        await changes.next();
        const address = o.address.get();
        if (!address) continue;
        const prefixes = [...podCidrs.get() ?? [], `${address}/32`];
        if (prefixes.join(",") === published) continue;
        const cur = await o.curator(Curator, ctx.signal);
        await cur.updateNodeClusterNetworking(
          { clusternet: { wireguardPubkey: key, prefixes: prefixes.map((cidr) => ({ cidr })) } },
          { signal: ctx.signal },
        );
        published = prefixes.join(",");
        ctx.logger.info(`published key ${key}, prefixes ${prefixes.join(", ")}`);
      }
    })();
    try {
      await Promise.race([informer, publishing]);
    } catch (e) {
      if (ctx.signal.aborted) return;
      throw e;
    }
  };
}

/** Applies `desiredRoutes` to the kernel on every change of the address or the node list. */
function router(o: ClusternetOptions & { routes: RouteTable }): Runnable {
  return async (ctx) => {
    const changes = new AnyChange([o.address, o.nodes], ctx.signal);
    let healthy = false;
    /** Desired routes the kernel refused (peer not on any of our subnets), reported once. */
    let unreachable = "";
    try {
      for (;;) {
        try {
          await changes.next();
        } catch {
          return; // aborted: the role goes, the finally below cleans up
        }
        const desired = desiredRoutes(
          { id: o.nodeId, address: o.address.get() },
          o.nodes.get() ?? new Map(),
        );
        const d = diffRoutes(o.routes.installed(), desired);
        for (const r of d.remove) o.routes.remove(r as InstalledRoute);
        const refused: string[] = [];
        for (const r of d.replace) {
          if (!o.routes.replace(r)) refused.push(`${routeKey(r)} via ${r.gateway}`);
        }
        if (d.remove.length || d.replace.length) {
          ctx.logger.info(
            `routes: ${desired.length} wanted, ${d.replace.length - refused.length} set, ` +
              `${d.remove.length} removed`,
          );
        }
        if (refused.join() !== unreachable) {
          unreachable = refused.join();
          if (refused.length) {
            ctx.logger.warning(`peers not on a local subnet, no route: ${refused.join(", ")}`);
          }
        }
        if (!healthy) (healthy = true, signal(ctx, "healthy"));
      }
    } finally {
      // Leave nothing behind when the role goes (and start clean after a restart).
      for (const r of o.routes.installed()) o.routes.remove(r);
    }
  };
}
