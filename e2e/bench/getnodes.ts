/**
 * `deno task bench getnodes` (testing.md §5): GetNodes latency to the end of the stream with
 * 1,000 and 10,000 seeded node records, 100 calls per filter, from this process to a leader in
 * another process, dialled with the project's client code as the owner. Target: p99 ≤ 100 ms at
 * 10,000 nodes.
 *
 * Options: `--sizes 1000,10000` `--calls 100`.
 */
import { Management } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import { machine, percentile, progress, report } from "./report.ts";
import { startBenchServer } from "./server_process.ts";

/** The filters of testing.md §5. */
export const FILTERS: Record<string, string> = {
  empty: "",
  "up-worker": "node.state == NODE_STATE_UP && has(node.roles.kubernetes_worker)",
  heartbeat: "node.time_since_heartbeat < duration('6s')",
};

const TARGET_MS = 100;

function option(args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
}

function positiveInts(s: string, name: string): number[] {
  const xs = s.split(",").map(Number);
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x <= 0)) {
    throw new Error(`--${name} must be positive integers separated by commas, got "${s}"`);
  }
  return xs;
}

/** Runs the bench; `args` as on the command line after the bench name. */
export async function getnodes(args: string[]): Promise<void> {
  const sizes = positiveInts(option(args, "sizes", "1000,10000"), "sizes");
  const calls = positiveInts(option(args, "calls", "100"), "calls")[0];
  const m = machine();
  for (const size of sizes) {
    progress(`getnodes: starting a curator with ${size} seeded records`);
    const srv = await startBenchServer(["--nodes", String(size)]);
    try {
      const mgmt = await srv.client(Management, srv.owner);
      for (const [name, filter] of Object.entries(FILTERS)) {
        const once = async () => {
          const start = performance.now();
          let n = 0;
          for await (const _ of mgmt.getNodes({ filter })) n++;
          return { ms: performance.now() - start, n };
        };
        // The first call of a filter is cold (JIT, leader's per-record caches): reported apart.
        const first = await once();
        for (let i = 0; i < 2; i++) await once();
        const ms: number[] = [];
        let matched = 0;
        // CPU time of the leader per call: unlike latency, insensitive to other load.
        const cpu0 = srv.cpuSeconds();
        for (let i = 0; i < calls; i++) {
          const r = await once();
          ms.push(r.ms);
          matched = r.n;
        }
        const leaderCpuMs = (srv.cpuSeconds() - cpu0) * 1000 / calls;
        const p99 = percentile(ms, 99);
        const atTarget = size >= 10_000;
        report({
          bench: `getnodes/${size}/${name}`,
          value: p99,
          unit: "ms p99",
          target: atTarget ? `<= ${TARGET_MS}` : "report",
          runs: calls,
          ok: atTarget ? p99 <= TARGET_MS : undefined,
          extra: {
            p50: Math.round(percentile(ms, 50) * 100) / 100,
            max: Math.round(Math.max(...ms) * 100) / 100,
            firstMs: Math.round(first.ms * 100) / 100,
            leaderCpuMsPerCall: Math.round(leaderCpuMs * 10) / 10,
            nodes: srv.info.seeded + 1,
            matched,
            filter,
          },
        }, m);
      }
    } finally {
      await srv.stop();
    }
  }
}
