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
