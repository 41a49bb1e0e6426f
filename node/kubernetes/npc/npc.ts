/**
 * The NetworkPolicy controller of a worker (kubernetes.md §11, DN `…worker.npc`): watches
 * NetworkPolicies, Pods and Namespaces with the netservices identity and keeps the nftables table
 * of {@link ./ruleset.ts} equal to what they say, replacing it atomically (`nft -f -`, one
 * transaction) whenever the rendered text changes.
 *
 * Our own controller: upstream Monogon links the `npc` applet of
 * `git.dolansoft.org/dolansoft/k8s-nft-npc` into its `kube` binary, a module the Go module proxy
 * available to this project does not serve.
 * @module
 */
import { Value } from "../../base/event/value.ts";
import { type Context, type Runnable, signal } from "../../base/supervisor/supervisor.ts";
import type { KubeClient } from "../client/client.ts";
import { inform } from "../dns/informer.ts";
import { nft } from "../nat/nat.ts";
import {
  type NamespaceInfo,
  parseNamespace,
  parsePod,
  parsePolicy,
  type PodInfo,
  type PolicyInfo,
} from "./objects.ts";
import { NPC_TABLE, npcRuleset } from "./ruleset.ts";

/** Options of {@link networkPolicyController}. */
export interface NpcOptions {
  client: KubeClient;
  /** This node's Kubernetes node name (the node ID). */
  nodeName: string;
  /** Set to every ruleset once it is in the kernel (status, tests). */
  applied?: Value<string>;
}

/** Collections watched. */
export const NPC_PATHS = {
  policies: "/apis/networking.k8s.io/v1/networkpolicies",
  pods: "/api/v1/pods",
  namespaces: "/api/v1/namespaces",
} as const;

/** Removes the table; an absent table is fine. */
export async function removeNpc(): Promise<void> {
  await nft(["-f", "-"], `table ip ${NPC_TABLE}\ndelete table ip ${NPC_TABLE}\n`);
}

/**
 * The runnable: Healthy once all three collections are listed and the first table is in.
 * A failed `nft` or API error fails it (the supervisor restarts it; the table in the kernel stays
 * until the restarted controller replaces it). Stopping removes the table.
 */
export function networkPolicyController(o: NpcOptions): Runnable {
  return async (ctx: Context) => {
    let policies: ReadonlyMap<string, PolicyInfo> | undefined;
    let pods: ReadonlyMap<string, PodInfo> | undefined;
    let namespaces: ReadonlyMap<string, NamespaceInfo> | undefined;
    // Bumped on every change of a collection; the applier renders from the current maps.
    const changes = new Value<number>();
    let n = 0;
    const changed = () => changes.set(++n);
    const informers = [
      inform({
        client: o.client,
        path: NPC_PATHS.policies,
        parse: parsePolicy,
        signal: ctx.signal,
        onChange: (m) => (policies = m, changed()),
      }),
      inform({
        client: o.client,
        path: NPC_PATHS.pods,
        parse: parsePod,
        signal: ctx.signal,
        onChange: (m) => (pods = m, changed()),
      }),
      inform({
        client: o.client,
        path: NPC_PATHS.namespaces,
        parse: parseNamespace,
        signal: ctx.signal,
        onChange: (m) => (namespaces = m, changed()),
      }),
    ];
    const apply = async () => {
      let last: string | undefined;
      for await (const _ of changes.watch({ signal: ctx.signal })) {
        if (!policies || !pods || !namespaces) continue;
        const text = npcRuleset({
          node: o.nodeName,
          policies: policies.values(),
          pods: pods.values(),
          namespaces: namespaces.values(),
        });
        if (text === last) continue;
        await nft(["-f", "-"], text);
        if (last === undefined) {
          ctx.logger.info(`table ${NPC_TABLE} in place (${policies.size} policies)`);
          signal(ctx, "healthy");
        }
        last = text;
        o.applied?.set(text);
      }
    };
    try {
      await Promise.race([...informers, apply()]);
    } finally {
      if (ctx.signal.aborted) {
        await removeNpc().catch((e) => ctx.logger.warning(`removing ${NPC_TABLE}: ${e}`));
      }
    }
  };
}
