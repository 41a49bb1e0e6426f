/**
 * Small process helpers for the launcher: run a host command and fail with a one-line error that
 * names the command and its stderr.
 * @module
 */

/** Runs `cmd args…`; resolves with stdout, throws `<cmd> <args>: exit N: <stderr>` on failure. */
export async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  if (!out.success) {
    const err = dec.decode(out.stderr).trim().split("\n").slice(-2).join(" | ");
    throw new Error(`${cmd} ${args.join(" ")}: exit ${out.code}: ${err}`);
  }
  return dec.decode(out.stdout);
}

/** Like {@link run} but never throws; returns whether the command succeeded. */
export async function tryRun(cmd: string, args: string[]): Promise<boolean> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "null" })
    .output();
  return out.success;
}

/** Whether process `pid` exists (zombies count as existing). */
export function pidAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Host PIDs of the direct children of `pid` (from `/proc/<pid>/task/*\/children`). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      const text = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/children`).trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // The process is gone: no children.
  }
  return out;
}

/** Host IDs of every thread of `pid` and of all its descendants. */
export function treeTasks(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) out.push(Number(t.name));
  } catch {
    return out; // gone
  }
  for (const c of childPids(pid)) out.push(...treeTasks(c));
  return out;
}

/**
 * Sets the nice value of every thread of `pid` and its descendants (Linux keeps it per thread;
 * threads started later inherit it from their creator). A second pass catches threads that
 * appeared during the first.
 */
export async function reniceTree(pid: number, nice: number): Promise<void> {
  const done = new Set<number>();
  for (let pass = 0; pass < 2; pass++) {
    const tasks = treeTasks(pid).filter((t) => !done.has(t));
    if (!tasks.length) return;
    await tryRun("renice", ["-n", String(nice), "-p", ...tasks.map(String)]);
    for (const t of tasks) done.add(t);
  }
}

/** The nice value of this process (its main thread). */
export function ownNice(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  // Fields after the command name's closing parenthesis: state is field 3, nice field 19.
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
}

/**
 * The nice value of the scheduler autogroup (one per session, with `kernel.sched_autogroup_enabled`)
 * of `pid`; undefined without autogroups. Between sessions the kernel weighs autogroups, not
 * threads: a thread's nice only ranks it within its own session.
 */
export function autogroupNice(pid: number | "self"): number | undefined {
  try {
    const m = /nice (-?\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/autogroup`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Sets the autogroup nice value of `pid`'s session; false without autogroups (or if it is gone). */
export function setAutogroupNice(pid: number, nice: number): boolean {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/autogroup`, String(nice));
    return true;
  } catch {
    return false;
  }
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
