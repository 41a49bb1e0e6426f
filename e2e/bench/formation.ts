/**
 * `deno task bench formation [--runs N] [--nodes N]` (testing.md §5): `launchCluster` with fresh
 * namespace nodes, launcher start → all UP and HEALTHY (via GetNodes), median of N runs (5), with
 * the bring-up phases; then the agents' RSS (VmRSS) per node 60 s after UP (`--rss-wait S`).
 */
import { launchCluster } from "../launch/cluster.ts";
import { resolveOptions } from "../launch/options.ts";
import { report } from "./report.ts";

function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** VmRSS (kB) of the agent (the deno process) in the PID namespace of node `init` pid. */
async function agentRss(initPid: number): Promise<number | undefined> {
  // The agent is the child of the node's /init (which is unshare's child).
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

/** The formation benchmark. */
export async function formation(args: string[]): Promise<void> {
  const runs = arg(args, "runs", 5);
  const nodes = arg(args, "nodes", 3);
  const rssWait = arg(args, "rss-wait", 60);
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const c = await launchCluster(resolveOptions({
      "num-nodes": nodes,
      "tpm-mode": "disabled",
      subnet: "10.1.45.0/24",
      tpm: "none",
    }));
    const took = (performance.now() - t0) / 1000;
    times.push(took);
    console.error(`formation: run ${r + 1}/${runs}: ${took.toFixed(1)} s`);
    try {
      if (r === runs - 1 && rssWait > 0) {
        console.error(`formation: waiting ${rssWait} s before measuring RSS`);
        await new Promise((res) => setTimeout(res, rssWait * 1000));
        const rss: number[] = [];
        for (const n of c.nodes) {
          const pid = n.initPid;
          rss.push(pid ? (await agentRss(pid)) ?? NaN : NaN);
        }
        report({
          bench: "rss",
          value: Math.max(...rss) / 1024,
          unit: "MB",
          target: "<= 60",
          runs: rss.length,
          extra: { perNodeMB: rss.map((k) => Math.round(k / 102.4) / 10).join("/") },
          ok: Math.max(...rss) / 1024 <= 60,
        });
      }
    } finally {
      await c.close();
    }
  }
  const m = median(times);
  report({
    bench: "formation",
    value: m,
    unit: "s",
    target: "<= 15",
    runs,
    extra: { runsS: times.map((t) => t.toFixed(1)).join("/"), nodes },
    ok: m <= 15,
  });
}
