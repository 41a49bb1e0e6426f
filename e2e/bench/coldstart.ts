/**
 * `deno task bench coldstart [--rounds N]`: the crash probe of cold restarts (the shape of the
 * ha_cold suite, where an agent once died of SIGSEGV after a leader change): 3 namespace nodes,
 * nodes 1 and 2 made ConsensusMembers, then N rounds of "stop every node, start every node, wait
 * until all are HEALTHY". Reports the time to HEALTHY per round and every agent crash the
 * launcher saw (`init: agent exited: …` in a node's console, restarted by the launcher), plus any
 * nghttp2 assertion or segmentation fault line in the consoles.
 */
import { launchCluster } from "../launch/cluster.ts";
import { resolveOptions } from "../launch/options.ts";
import { allHealthy, makeConsensusMember } from "../launch/bringup.ts";
import { arg } from "./rss.ts";
import { report } from "./report.ts";

const CRASH_LINE = /init: agent exited|Segmentation fault|Assertion .* failed|nghttp2/;

/** The cold-start crash probe. */
export async function coldstart(args: string[]): Promise<void> {
  const rounds = arg(args, "rounds", 10);
  const c = await launchCluster(resolveOptions({
    "num-nodes": 3,
    "tpm-mode": "disabled",
    tpm: "none",
    subnet: "10.1.52.0/24",
  }));
  const times: number[] = [];
  try {
    const api = c.api!;
    const ids = await c.nodeIds();
    for (const i of [1, 2]) await makeConsensusMember(api, ids[i]);
    for (let r = 0; r < rounds; r++) {
      for (const i of [0, 1, 2]) await c.shutdownNode(i);
      const t0 = performance.now();
      await Promise.all([0, 1, 2].map((i) => c.startNode(i)));
      for (;;) {
        const nodes = await api.nodes().catch(() => []);
        if (allHealthy(nodes, 3)) break;
        if (performance.now() - t0 > 180_000) {
          c.keepState = true; // the consoles are the post-mortem
          throw new Error(`round ${r + 1}: not HEALTHY in 180 s (state kept in ${c.stateDir})`);
        }
        await new Promise((res) => setTimeout(res, 500));
      }
      const took = (performance.now() - t0) / 1000;
      times.push(took);
      console.error(`coldstart: round ${r + 1}/${rounds}: HEALTHY after ${took.toFixed(1)} s`);
    }
    const lines: string[] = [];
    for (const [i, n] of c.nodes.entries()) {
      const log = await Deno.readTextFile(n.consolePath).catch(() => "");
      const all = log.split("\n");
      all.forEach((l, k) => {
        if (!CRASH_LINE.test(l)) return;
        lines.push(`node ${i}: ${l}`);
        // What the agent was doing just before: the post-mortem without keeping the state.
        for (const b of all.slice(Math.max(0, k - 12), k)) {
          console.error(`coldstart:   n${i}| ${b}`);
        }
      });
    }
    for (const l of lines) console.error(`coldstart: ${l}`);
    const sorted = [...times].sort((a, b) => a - b);
    report({
      bench: "coldstart",
      value: c.crashes,
      unit: "crashes",
      target: "0",
      runs: rounds,
      extra: {
        crashLines: lines.length,
        healthyMedianS: sorted[Math.floor(sorted.length / 2)].toFixed(1),
        healthyMaxS: sorted[sorted.length - 1].toFixed(1),
      },
      ok: c.crashes === 0 && lines.length === 0,
    });
  } finally {
    await c.close();
  }
}
