/**
 * `deno task bench rss [--wait S] [--calls N] [--subnet CIDR]` (testing.md §5 `rss`): a 2-node
 * namespace cluster (node 0 is the bootstrap ConsensusMember with etcd and the curator leader,
 * node 1 holds no role); after all are UP and HEALTHY and `--wait` seconds (60) the agents'
 * memory is read from /proc on the host. Targets ({@link RSS_TARGET_MB}): a node without roles
 * ≤ 64 MB, a ConsensusMember (etcd client, curator leader) ≤ 96 MB — Talos budgets its whole
 * init at 96 MiB.
 *
 * Each node's report explains its number: VmRSS, PSS (the `deno` text is shared between the
 * agents of a host), the file-backed part, and from the agent's own `/metrics/core` the V8 heap
 * (used, reserved) and the external memory JS objects hold. Then the leader gets `--calls`
 * GetNodes (2,000) in {@link LOAD_ROUNDS} rounds over one owner connection, and its VmRSS is read
 * before, after each round and {@link SETTLE_S} s later (reported: settled − before, with the V8
 * heap then): the leader must not grow without bound (issue #16). `--subnet` (10.1.51.0/24)
 * keeps the bench's switch apart from other clusters on the machine.
 */
import { launchCluster } from "../launch/cluster.ts";
import type { Cluster } from "../launch/cluster.ts";
import { resolveOptions } from "../launch/options.ts";
import { listNodes } from "../launch/bringup.ts";
import { nodeIdOf, nodeMetrics } from "../suites/core/core_steps.ts";
import { FILTERS } from "./getnodes.ts";
import { report } from "./report.ts";

/** RSS target per kind of node, MB (MiB of VmRSS). */
export const RSS_TARGET_MB = { "consensus-member": 96, "no-role": 64 } as const;

/** The subnet of the bench's cluster unless `--subnet` says otherwise. */
export const RSS_SUBNET = "10.1.51.0/24";

/** `--name N` of `args`, or `def`. */
export function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

/** `--name VALUE` of `args`, or `def`. */
export function stringArg(args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
}

/** VmRSS (kB) of process `pid`. */
export async function vmRss(pid: number): Promise<number> {
  return Number(/^VmRSS:\s+(\d+)/m.exec(await Deno.readTextFile(`/proc/${pid}/status`))?.[1]);
}

/** What {@link parseSmapsRollup} reads, kB. */
export interface SmapsMemory {
  rss: number;
  /** Proportional set size: shared pages divided among the processes mapping them. */
  pss: number;
  /** Resident and backed by a file (the `deno` executable's text, mostly). */
  rssFile: number;
  /** Resident anonymous memory: heaps (V8's and malloc's), stacks. */
  anon: number;
}

/** The fields of {@link SmapsMemory} from a `/proc/<pid>/smaps_rollup` text. */
export function parseSmapsRollup(text: string): SmapsMemory {
  const kb = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
    if (!m) throw new Error(`smaps_rollup lacks ${name}`);
    return Number(m[1]);
  };
  const rss = kb("Rss"), anon = kb("Anonymous");
  return { rss, pss: kb("Pss"), rssFile: rss - anon, anon };
}

/**
 * PSS and the file-backed part of RSS (kB) of `pid` from smaps_rollup: the `deno` executable's
 * text is shared between the agents of one host, so PSS shows what one agent really adds.
 */
export async function memoryDetail(pid: number): Promise<SmapsMemory> {
  return parseSmapsRollup(await Deno.readTextFile(`/proc/${pid}/smaps_rollup`));
}

/** The agent's view of its memory from `/metrics/core`, bytes (NaN when not exported). */
export interface AgentHeap {
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/** {@link AgentHeap} from the Prometheus text of an agent's `/metrics/core`. */
export function parseCoreMetrics(text: string): AgentHeap {
  const v = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
  return {
    heapUsed: v("process_heap_used_bytes"),
    heapTotal: v("process_heap_total_bytes"),
    external: v("process_external_memory_bytes"),
  };
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

const mb = (kb: number) => Math.round(kb / 102.4) / 10;
const mbOfBytes = (b: number) => mb(b / 1024);

/** Host PID of node `i`'s agent. */
function agentOf(c: Cluster, i: number): number {
  const pid = c.nodes[i].initPid;
  const agent = pid ? agentPid(pid) : undefined;
  if (agent === undefined) throw new Error(`node ${i}: agent process not found`);
  return agent;
}

/** Rounds the GetNodes load is split into; the leader's VmRSS is read after each. */
export const LOAD_ROUNDS = 4;

/** Seconds after the load before the last reading: more than the agent's malloc_trim period. */
export const SETTLE_S = 35;

/**
 * `calls` GetNodes on the leader in {@link LOAD_ROUNDS} rounds (the filters of the getnodes bench
 * in turn) over one owner connection; the leader's VmRSS (MB) before, after each round and
 * {@link SETTLE_S} later.
 */
async function getNodesLoad(c: Cluster, leader: number, calls: number) {
  const filters = Object.values(FILTERS).map((f) => f.filter);
  const rssMB = async () => mb(await vmRss(leader));
  const before = await rssMB();
  const rounds: number[] = [];
  const started = performance.now();
  await c.api!.management(async (m) => {
    for (let r = 0; r < LOAD_ROUNDS; r++) {
      for (let k = 0; k < calls / LOAD_ROUNDS; k++) {
        await listNodes(m, filters[k % filters.length]);
      }
      rounds.push(await rssMB());
    }
  });
  const seconds = (performance.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
  return { before, rounds, settled: await rssMB(), seconds };
}

/** The rss benchmark. */
export async function rss(args: string[]): Promise<void> {
  const wait = arg(args, "wait", 60);
  const calls = arg(args, "calls", 2000);
  const c = await launchCluster({
    ...resolveOptions({
      "num-nodes": 2,
      "tpm-mode": "disabled",
      tpm: "none",
      subnet: stringArg(args, "subnet", RSS_SUBNET),
    }),
    // Each agent on its own copy of the runtime, as on a VM: its executable's pages are its own.
    privateRuntime: true,
  });
  try {
    console.error(`rss: cluster UP and HEALTHY; waiting ${wait} s`);
    await new Promise((r) => setTimeout(r, wait * 1000));
    const kinds = ["consensus-member", "no-role"] as const;
    // /proc first, for every node: the metrics calls below cost the agents memory themselves.
    const procs = await Promise.all(kinds.map(async (_, i) => {
      const pid = agentOf(c, i);
      return { pid, kb: await vmRss(pid), d: await memoryDetail(pid) };
    }));
    for (const [i, kind] of kinds.entries()) {
      const { kb, d } = procs[i];
      const heap = await nodeMetrics(c, i, await nodeIdOf(c, i), "core")
        .then(parseCoreMetrics, (e) => {
          console.error(`rss: node ${i} /metrics/core: ${(e as Error).message}`);
          return parseCoreMetrics("");
        });
      report({
        bench: `rss-${kind}`,
        value: mb(kb),
        unit: "MB",
        target: `<= ${RSS_TARGET_MB[kind]}`,
        runs: 1,
        extra: {
          node: i,
          waitS: wait,
          pssMB: mb(d.pss),
          fileBackedMB: mb(d.rssFile),
          anonMB: mb(d.anon),
          heapUsedMB: mbOfBytes(heap.heapUsed),
          heapTotalMB: mbOfBytes(heap.heapTotal),
          externalMB: mbOfBytes(heap.external),
        },
        ok: mb(kb) <= RSS_TARGET_MB[kind],
      });
    }
    if (calls > 0) {
      console.error(`rss: ${calls} GetNodes on the leader (node 0)`);
      const l = await getNodesLoad(c, procs[0].pid, calls);
      const heap = await nodeMetrics(c, 0, await nodeIdOf(c, 0), "core")
        .then(parseCoreMetrics, () => parseCoreMetrics(""));
      report({
        bench: "rss-leader-getnodes",
        value: Math.round((l.settled - l.before) * 10) / 10,
        unit: "MB",
        // Reported, not judged: during the load V8 grows its young generation and collects
        // lazily, and whether it has shrunk again 35 s later varies from run to run (heap
        // snapshots, which collect first, show no objects retained by the calls; see
        // docs/benchmarks.md).
        target: "report",
        runs: 1,
        extra: {
          calls,
          beforeMB: l.before,
          afterRoundsMB: l.rounds.join(" "),
          [`settled${SETTLE_S}sMB`]: l.settled,
          heapUsedMB: mbOfBytes(heap.heapUsed),
          heapTotalMB: mbOfBytes(heap.heapTotal),
          loadS: Math.round(l.seconds * 10) / 10,
        },
      });
    }
  } finally {
    await c.close();
  }
}
