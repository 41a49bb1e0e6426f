/**
 * `deno task bench all [--out bench-report.md] [--heartbeat-nodes N]` (issue #16 item 5): runs
 * the benchmarks that have a Kubernetes peer or a headline target — getnodes (10,000 nodes),
 * heartbeats (15,000 nodes), formation, crash (failover of real agents) and rss — one after the
 * other in this process, and writes one Markdown report: a table of every result (metric, ours,
 * peer, ratio, target, verdict) with the machine and its load average at the start and end of each
 * bench, and how much of the machine's CPU the hypervisor gave to other guests meanwhile (steal
 * time: the load average does not show it). A bench that fails is listed with its error; the
 * others still run.
 */
import { type Machine, REPORTED, type Result } from "./report.ts";
import { cpuTicks, stealPercent } from "./proc.ts";

/** One bench of the report: its name, arguments, and what happened. */
export interface BenchRun {
  name: string;
  args: string[];
  seconds: number;
  /** Load average (1 min) before and after. */
  loadBefore: number;
  loadAfter: number;
  /** Share of the machine's CPU time the hypervisor gave to other guests during the bench (%). */
  stealPct: number;
  error?: string;
  results: { result: Result; machine: Machine }[];
}

/** The benches `all` runs, with their arguments. */
export const ALL: { name: string; args: string[] }[] = [
  { name: "getnodes", args: ["--sizes", "10000", "--calls", "100"] },
  { name: "heartbeats", args: ["--nodes", "15000", "--duration", "60", "--failover", "5000"] },
  { name: "formation", args: ["--runs", "3", "--floor-runs", "3"] },
  { name: "crash", args: ["--rounds", "5"] },
  { name: "rss", args: [] },
];

const num = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? "" : String(Math.round(v * 100) / 100);

/** Escapes a table cell. */
const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** The Markdown report of `runs` (pure; `date` and `command` as given). */
export function renderReport(runs: BenchRun[], date: string, command: string): string {
  const m = runs.flatMap((r) => r.results)[0]?.machine;
  const lines = [
    "# Benchmark report",
    "",
    `Written by \`${command}\` on ${date}` +
    (m ? ` — ${m.cpus} CPUs (${m.model}), accelerator ${m.accelerator}.` : "."),
    "Ours and peer (the project's kube-apiserver on its own etcd) were measured in the same run on",
    "the same machine; the machine is shared, so compare ratios rather than absolute values.",
    "",
    "| bench | load avg (start → end) | CPU stolen by the host | duration | status |",
    "| --- | --- | --- | --- | --- |",
    ...runs.map((r) =>
      `| ${r.name} ${cell(r.args.join(" "))} | ${num(r.loadBefore)} → ${num(r.loadAfter)} | ` +
      `${Math.round(r.stealPct)} % | ${Math.round(r.seconds)} s | ` +
      `${r.error ? `failed: ${cell(r.error)}` : "ok"} |`
    ),
    "",
    "| metric | ours | peer | ratio | target | verdict |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of runs) {
    for (const { result: x } of r.results) {
      const verdict = x.ok === undefined ? "" : x.ok ? "met" : "**missed**";
      lines.push(
        `| ${cell(x.bench)} (${cell(x.unit)}) | ${num(x.value)} | ${num(x.peer)} | ` +
          `${x.peer ? num(x.value / x.peer) : ""} | ${cell(x.target)} | ${verdict} |`,
      );
    }
  }
  lines.push("", "Details of each result (the JSON lines of the benches):", "");
  for (const r of runs) {
    for (const { result: x } of r.results) {
      const extra = Object.entries(x.extra ?? {}).map(([k, v]) => `${k}=${v}`).join(", ");
      lines.push(`- \`${x.bench}\`: ${num(x.value)} ${x.unit}, ${x.runs} runs; ${cell(extra)}`);
    }
  }
  return lines.join("\n") + "\n";
}

const load = () => Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);

/** Runs every bench of {@link ALL} and writes the report to `--out` (bench-report.md). */
export async function all(
  args: string[],
  benches: Record<string, (args: string[]) => Promise<void>>,
): Promise<void> {
  const i = args.indexOf("--out");
  const out = i >= 0 && args[i + 1] ? args[i + 1] : "bench-report.md";
  // `--heartbeat-nodes N`: a smaller heartbeat run where 15,000 nodes do not fit the machine.
  const h = args.indexOf("--heartbeat-nodes");
  const heartbeatNodes = h >= 0 ? args[h + 1] : undefined;
  const runs: BenchRun[] = [];
  for (const spec of ALL) {
    const b = spec.name === "heartbeats" && heartbeatNodes
      ? {
        ...spec,
        args: spec.args.map((a, k) => spec.args[k - 1] === "--nodes" ? heartbeatNodes : a),
      }
      : spec;
    const from = REPORTED.length;
    const loadBefore = load();
    const ticks0 = cpuTicks();
    const t0 = performance.now();
    let error: string | undefined;
    try {
      await benches[b.name](b.args);
    } catch (e) {
      error = (e as Error).message.split("\n")[0].slice(0, 300);
      console.error(`bench all: ${b.name} failed: ${error}`);
    }
    runs.push({
      ...b,
      seconds: (performance.now() - t0) / 1000,
      loadBefore,
      loadAfter: load(),
      stealPct: stealPercent(ticks0, cpuTicks()),
      error,
      results: REPORTED.slice(from),
    });
    // Written after every bench, so a later failure keeps what was measured.
    await Deno.writeTextFile(
      out,
      renderReport(runs, new Date().toISOString(), ["deno task bench all", ...args].join(" ")),
    );
  }
  // In the repository's Markdown style (aligned tables, wrapped lines), which the test command's
  // `deno fmt --check` gate holds every committed file to.
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", out] }).output();
  if (!fmt.success) console.error(`bench all: deno fmt ${out} failed; the report is unformatted`);
  console.error(`bench all: report written to ${out}`);
}
