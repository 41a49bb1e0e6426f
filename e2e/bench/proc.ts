/** /proc readings of another process for the benchmarks: CPU time and resident memory. */

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on every Linux the project runs). */
const CLK_TCK = 100;

/** utime+stime of `pid` in seconds (/proc/<pid>/stat fields 14 and 15). */
export function cpuSeconds(pid: number): number {
  const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the parenthesised command name (which may contain spaces).
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** VmRSS of `pid` in MiB (NaN for a zombie). */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The machine's CPU time counters in ticks (the `cpu` line of /proc/stat): all, and stolen. */
export interface CpuTicks {
  total: number;
  steal: number;
}

/**
 * Parses the aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal
 * (guest time is already counted in user and nice, so it is not added again).
 */
export function parseCpuTicks(stat: string): CpuTicks {
  const line = stat.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) throw new Error("/proc/stat has no aggregate cpu line");
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) {
    throw new Error(`/proc/stat: unexpected cpu line "${line.slice(0, 120)}"`);
  }
  return { total: f.reduce((a, b) => a + b, 0), steal: f[7] };
}

/** The machine's CPU counters now. */
export function cpuTicks(): CpuTicks {
  return parseCpuTicks(Deno.readTextFileSync("/proc/stat"));
}

/**
 * Share of the machine's CPU time between two readings that the hypervisor gave to other guests
 * (%): on a shared VM the benches' figures move with it, and the load average does not show it.
 */
export function stealPercent(before: CpuTicks, after: CpuTicks): number {
  const total = after.total - before.total;
  return total > 0 ? (after.steal - before.steal) / total * 100 : 0;
}
