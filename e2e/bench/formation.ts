/**
 * `deno task bench formation [--runs N] [--nodes N]` (testing.md §5): `launchCluster` with fresh
 * namespace nodes, launcher start → all UP and HEALTHY (via GetNodes), median of N runs (5), with
 * the bring-up phases. Agent memory is the `rss` bench (rss.ts).
 */
import { launchCluster } from "../launch/cluster.ts";
import { resolveOptions } from "../launch/options.ts";
import { report } from "./report.ts";

function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The formation benchmark. */
export async function formation(args: string[]): Promise<void> {
  const runs = arg(args, "runs", 5);
  const nodes = arg(args, "nodes", 3);
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
    await c.close();
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
