/**
 * `deno task bench rss [--wait S]` (testing.md §5 `rss`): a 2-node namespace cluster (node 0 is
 * the bootstrap ConsensusMember with etcd and the curator leader, node 1 holds no role); after
 * all are UP and HEALTHY and `--wait` seconds (60) the agents' VmRSS is read from /proc on the
 * host. Target ≤ 60 MB for each kind of node.
 */
import { launchCluster } from "../launch/cluster.ts";
import { resolveOptions } from "../launch/options.ts";
import { report } from "./report.ts";

function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

/**
 * VmRSS (kB) of the agent (the first `deno` process) below the node's `/init` host PID, or
 * undefined when the node has none.
 */
export async function agentRss(initPid: number): Promise<number | undefined> {
  const children = (pid: number) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)
        .filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const queue = [initPid];
  while (queue.length) {
    const p = queue.shift()!;
    try {
      const st = await Deno.readTextFile(`/proc/${p}/status`);
      const name = /^Name:\s+(\S+)/m.exec(st)?.[1];
      if (name === "deno") return Number(/^VmRSS:\s+(\d+)/m.exec(st)?.[1]);
    } catch { /* gone */ }
    queue.push(...children(p));
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
    const kinds = ["consensus-member", "no-role"];
    for (const [i, kind] of kinds.entries()) {
      const pid = c.nodes[i].initPid;
      const kb = pid ? await agentRss(pid) : undefined;
      if (kb === undefined) throw new Error(`node ${i}: agent process not found`);
      const mb = kb / 1024;
      report({
        bench: `rss-${kind}`,
        value: mb,
        unit: "MB",
        target: "<= 60",
        runs: 1,
        extra: { node: i, waitS: wait },
        ok: mb <= 60,
      });
    }
  } finally {
    await c.close();
  }
}
