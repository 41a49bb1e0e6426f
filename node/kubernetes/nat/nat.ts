/**
 * Pod masquerading (kubernetes.md §8): pods have addresses of the pod network, which nothing
 * outside the cluster routes back to, so traffic from the pod network to anything outside the
 * pod and service networks leaves with the node's address. The CNI plugin runs with
 * `ipMasq: false`; this nftables table is the only NAT of pod egress. Traffic between pods
 * (also across nodes, clusternet routes it) and to services (kube-proxy DNATs it) keeps its
 * source address, as NetworkPolicy and the Kubernetes network model require.
 * @module
 */
import { NET } from "../paths.ts";
import { type Context, type Runnable, signal } from "../../base/supervisor/supervisor.ts";

/** Name of the nftables table (family `ip`). */
export const NAT_TABLE = "metropolis-nat";
/** The nft CLI. */
export const NFT = "/usr/sbin/nft";
const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";

/** Networks of the ruleset (defaults: the cluster's). */
export interface NatNetworks {
  podCidr: string;
  serviceCidr: string;
}

/**
 * The `nft -f` script: declares the table first so that deleting it cannot fail on a fresh
 * node, deletes it, and defines it anew, all in one transaction (no moment without NAT when
 * re-applied, no duplicate rules).
 */
export function natRuleset(
  n: NatNetworks = { podCidr: NET.clusterCidr, serviceCidr: NET.serviceCidr },
): string {
  return [
    `table ip ${NAT_TABLE}`,
    `delete table ip ${NAT_TABLE}`,
    `table ip ${NAT_TABLE} {`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    ip saddr ${n.podCidr} ip daddr != { ${n.podCidr}, ${n.serviceCidr} } masquerade`,
    `  }`,
    `}`,
    ``,
  ].join("\n");
}

/** Runs `nft` with `args`, feeding `stdin`; throws with nft's message on failure. */
export async function nft(args: string[], stdin = ""): Promise<void> {
  const p = new Deno.Command(NFT, { args, stdin: "piped", stdout: "null", stderr: "piped" })
    .spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  const out = await p.output();
  if (!out.success) {
    throw new Error(`nft ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** Installs the table (idempotent). */
export async function applyNat(n?: NatNetworks): Promise<void> {
  await nft(["-f", "-"], natRuleset(n));
}

/** Removes the table; an absent table is fine. */
export async function removeNat(): Promise<void> {
  await nft(["-f", "-"], `table ip ${NAT_TABLE}\ndelete table ip ${NAT_TABLE}\n`);
}

/**
 * The runnable: turns on IPv4 forwarding (pods on other nodes are reached through this node;
 * the sysctl is per network namespace), installs the table, and deletes it when stopped.
 */
export function podNat(): Runnable {
  return async (ctx: Context) => {
    // Forwarding stays on after stop: kube-proxy and the node's routing may still rely on it.
    await Deno.writeTextFile(IP_FORWARD, "1\n");
    try {
      await applyNat();
      ctx.logger.info(`masquerading ${NET.clusterCidr} outside ${NET.serviceCidr}`);
      signal(ctx, "healthy");
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) return resolve();
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      });
    } finally {
      await removeNat().catch((e) => ctx.logger.warning(`removing ${NAT_TABLE}: ${e}`));
    }
  };
}
