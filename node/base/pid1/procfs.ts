/**
 * Reading process states from procfs for the orphan reaper: which processes are zombies, who is
 * their parent, and which children this process holds pidfds for.
 */

/** The fields of `/proc/<pid>/stat` the reaper needs. */
export interface ProcStat {
  /** Process ID. */
  pid: number;
  /** Command name (comm, up to 15 characters). */
  comm: string;
  /** State letter: `R`, `S`, `D`, `Z`, `T`, … */
  state: string;
  /** Parent PID. */
  ppid: number;
  /** Start time in clock ticks since boot; together with pid it identifies a process. */
  startTime: number;
}

/** Parses the text of `/proc/<pid>/stat`; returns null when it is malformed. */
export function parseStat(text: string): ProcStat | null {
  // comm may contain spaces and parentheses: it ends at the last ')'.
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).split(" ");
  const pid = Number(text.slice(0, open).trim());
  const ppid = Number(rest[1]);
  const startTime = Number(rest[19]);
  if (!Number.isInteger(pid) || !Number.isInteger(ppid) || !Number.isFinite(startTime)) return null;
  return { pid, comm: text.slice(open + 1, close), state: rest[0], ppid, startTime };
}

/** Reads one process's stat synchronously; null when it is gone or unreadable. */
export function readStatSync(pid: number, procRoot = "/proc"): ProcStat | null {
  try {
    return parseStat(Deno.readTextFileSync(`${procRoot}/${pid}/stat`));
  } catch {
    return null;
  }
}

/** Lists every process visible in `procRoot` (processes that vanish meanwhile are skipped). */
export async function listProcesses(procRoot = "/proc"): Promise<ProcStat[]> {
  const out: ProcStat[] = [];
  for await (const e of Deno.readDir(procRoot)) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const st = parseStat(await Deno.readTextFile(`${procRoot}/${e.name}/stat`));
      if (st) out.push(st);
    } catch {
      // Exited and reaped between readDir and the read.
    }
  }
  return out;
}

/** Lists zombies (state `Z`), optionally only the children of `ppid`. */
export async function listZombies(ppid?: number, procRoot = "/proc"): Promise<ProcStat[]> {
  return (await listProcesses(procRoot)).filter((p) =>
    p.state === "Z" && (ppid === undefined || p.ppid === ppid)
  );
}

/**
 * Returns the PIDs this process holds pidfds for (`anon_inode:[pidfd]` in `/proc/self/fd`, PID
 * from fdinfo). Deno keeps a pidfd for every child it spawned until it has reaped it, so these
 * are children Deno will wait for itself.
 */
export function heldPidfdPids(): Set<number> {
  const pids = new Set<number>();
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync("/proc/self/fd")];
  } catch {
    return pids;
  }
  for (const e of entries) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${e.name}`) !== "anon_inode:[pidfd]") continue;
      const m = /^Pid:\s*(-?\d+)$/m.exec(Deno.readTextFileSync(`/proc/self/fdinfo/${e.name}`));
      if (m && Number(m[1]) > 0) pids.add(Number(m[1]));
    } catch {
      // The fd was closed meanwhile.
    }
  }
  return pids;
}
