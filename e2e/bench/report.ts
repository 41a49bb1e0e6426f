/**
 * Result lines of the benchmarks (testing.md §5): one human line and one JSON line
 * `{"bench","value","unit","target","runs","machine", …extra}` per measured value, plus the small
 * statistics and machine facts they need.
 */

/** The machine a number was measured on. */
export interface Machine {
  /** Logical CPUs visible to this process. */
  cpus: number;
  /** `model name` of /proc/cpuinfo. */
  model: string;
  /** Hardware acceleration available: "kvm" when /dev/kvm exists, else "none"; no GPU used. */
  accelerator: string;
  /** 1-minute load average when the bench started (other work shares the machine). */
  load1: number;
}

/** Reads the machine facts (Linux /proc). */
export function machine(): Machine {
  let model = "unknown";
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(Deno.readTextFileSync("/proc/cpuinfo"));
    if (m) model = m[1].trim();
  } catch { /* not Linux */ }
  let accelerator = "none";
  try {
    Deno.statSync("/dev/kvm");
    accelerator = "kvm";
  } catch { /* absent */ }
  let load1 = NaN;
  try {
    load1 = Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch { /* not Linux */ }
  return { cpus: navigator.hardwareConcurrency, model, accelerator, load1 };
}

/** One measured value. */
export interface Result {
  bench: string;
  value: number;
  unit: string;
  /** The target as text (e.g. "<= 100"), or "report". */
  target: string;
  runs: number;
  /** Further fields for the JSON line (p50, counts, …). */
  extra?: Record<string, unknown>;
  /** Whether the target is met (undefined: no target). */
  ok?: boolean;
  /** The peer's value for the same metric in the same run (Kubernetes), and ours / peer. */
  peer?: number;
}

/** Every result reported by this process, with its machine (for `bench all`'s report). */
export const REPORTED: { result: Result; machine: Machine }[] = [];

/** Prints the human line and the JSON line of `r`. */
export function report(r: Result, m: Machine = machine()): void {
  REPORTED.push({ result: r, machine: m });
  const verdict = r.ok === undefined ? "" : r.ok ? " [target met]" : " [TARGET MISSED]";
  const extra = Object.entries(r.extra ?? {}).map(([k, v]) => `${k}=${v}`).join(" ");
  const peer = r.peer !== undefined
    ? `, peer ${round(r.peer)}, ratio ${round(r.value / r.peer)}`
    : "";
  console.log(
    `${r.bench}: ${round(r.value)} ${r.unit}${peer} (target ${r.target}, ${r.runs} runs${
      extra ? ", " + extra : ""
    })${verdict}`,
  );
  console.log(JSON.stringify({
    bench: r.bench,
    value: round(r.value),
    unit: r.unit,
    target: r.target,
    runs: r.runs,
    ...(r.peer !== undefined ? { peer: round(r.peer), ratio: round(r.value / r.peer) } : {}),
    machine: m,
    ...r.extra,
  }));
}

/** `v` rounded to two decimals, as every reported value is. */
export function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/** The median of `xs` (the upper one for an even count). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** Nearest-rank percentile (`p` in 0..100) of `xs`; NaN for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  if (p < 0 || p > 100) throw new Error(`percentile must be within 0..100, got ${p}`);
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1];
}

/** Progress line on stderr (keeps stdout to result lines). */
export function progress(line: string): void {
  console.error(`bench: ${line}`);
}
