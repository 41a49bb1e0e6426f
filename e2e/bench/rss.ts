/**
 * `deno task bench rss [--wait S]` (testing.md §5 `rss`): a 2-node namespace cluster (node 0 is
 * the bootstrap ConsensusMember with etcd and the curator leader, node 1 holds no role); after
 * all are UP and HEALTHY and `--wait` seconds (60) the agents' VmRSS is read from /proc on the
 * host. Targets ({@link RSS_TARGET_MB}): a node without roles ≤ 64 MB, a ConsensusMember (etcd
 * client, curator leader) ≤ 96 MB — Talos budgets its whole init at 96 MiB.
 */
import { launchCluster } from "../launch/cluster.ts";
import { resolveOptions } from "../launch/options.ts";
import { report } from "./report.ts";

/** RSS target per kind of node, MB (MiB of VmRSS). */
export const RSS_TARGET_MB = { "consensus-member": 96, "no-role": 64 } as const;

/** `--name N` of `args`, or `def`. */
export function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

/** VmRSS (kB) of process `pid`. */
export async function vmRss(pid: number): Promise<number> {
  return Number(/^VmRSS:\s+(\d+)/m.exec(await Deno.readTextFile(`/proc/${pid}/status`))?.[1]);
}

/**
 * PSS and the file-backed part of RSS (kB) of `pid` from smaps_rollup: the `deno` executable's
 * text is shared between the agents of one host, so PSS shows what one agent really adds.
 */
export async function memoryDetail(pid: number): Promise<{ pss: number; rssFile: number }> {
  const t = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(t)?.[1]);
  return { pss: kb("Pss"), rssFile: kb("Rss") - kb("Anonymous") };
}

/** The agent (first `deno` process) below the node's `/init` host PID. */
export function agentPid(initPid: number): number | undefined {
  const queue = [initPid];
  while (queue.length) {
    const p = queue.shift()!;
    try {
      if (/^Name:\s+deno$/m.test(Deno.readTextFileSync(`/proc/${p}/status`))) return p;
      queue.push(
        ...Deno.readTextFileSync(`/proc/${p}/task/${p}/children`).trim().split(/\s+/)
          .filter(Boolean).map(Number),
      );
    } catch { /* gone */ }
  }
  return undefined;
}

/** The rss benchmark. */
export async function rss(args: string[]): Promise<void> {
  const wait = arg(args, "wait", 60);
  const c = await launchCluster(resolveOptions({
    "num-nodes": 2,
    "tpm-mode": "disabled",
    tpm: "none",
    subnet: "10.1.49.0/24",
  }));
  try {
    console.error(`rss: cluster UP and HEALTHY; waiting ${wait} s`);
    await new Promise((r) => setTimeout(r, wait * 1000));
    const kinds = ["consensus-member", "no-role"] as const;
    for (const [i, kind] of kinds.entries()) {
      const pid = c.nodes[i].initPid;
      const agent = pid ? agentPid(pid) : undefined;
      if (agent === undefined) throw new Error(`node ${i}: agent process not found`);
      const kb = await vmRss(agent);
      const mb = kb / 1024;
      const d = await memoryDetail(agent);
      report({
        bench: `rss-${kind}`,
        value: mb,
        unit: "MB",
        target: `<= ${RSS_TARGET_MB[kind]}`,
        runs: 1,
        extra: {
          node: i,
          waitS: wait,
          pssMB: Math.round(d.pss / 102.4) / 10,
          fileBackedMB: Math.round(d.rssFile / 102.4) / 10,
        },
        ok: mb <= RSS_TARGET_MB[kind],
      });
    }
  } finally {
    await c.close();
  }
}
