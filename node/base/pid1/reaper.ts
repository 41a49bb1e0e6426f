/**
 * Orphan reaper for an agent that runs as PID 1 itself (namespace test mode without `/init`).
 *
 * It never calls `waitpid(-1)` (that raced Deno's own child handling: 1 in 20
 * `Deno.Command().output()` calls failed with ECHILD, workplace notes §2). Instead it scans
 * procfs for zombies whose parent is this process and reaps each with `waitpid(pid, WNOHANG)`,
 * skipping every PID Deno spawned itself: those registered in `ownChildren` (supervisor) and
 * those Deno holds a pidfd for. Triggered by SIGCHLD plus a slow periodic sweep.
 */
import { isOwnChild } from "../supervisor/children.ts";
import { getpid, SysError, W, waitpid, type WaitResult } from "../sys/mod.ts";
import { heldPidfdPids, listZombies, readStatSync } from "./procfs.ts";

/** Options of {@link startReaper}. */
export interface ReaperOptions {
  /** Periodic sweep interval (besides SIGCHLD); default 2000 ms. */
  intervalMs?: number;
  /**
   * How long a zombie must have been seen before it is reaped; default 100 ms. Defence in depth
   * for a Deno-spawned child that is neither registered nor held by a pidfd: Deno reaps those
   * within milliseconds of SIGCHLD.
   */
  graceMs?: number;
  /** Whether a PID belongs to Deno's own children; default the supervisor's registry. */
  isOwnChild?: (pid: number) => boolean;
  /** Listen for SIGCHLD; default true. */
  onSigchld?: boolean;
  /** Called for every reaped orphan. */
  onReap?: (r: WaitResult, comm: string) => void;
  /** procfs mount; default `/proc` (must be the PID namespace's own procfs). */
  procRoot?: string;
}

/** A running reaper. */
export interface Reaper {
  /** Runs one sweep now (queued behind a running one); resolves with the number reaped. */
  sweep(): Promise<number>;
  /** Stops listening and sweeping. */
  stop(): void;
  /** Counters: orphans reaped, zombies skipped because Deno owns them. */
  readonly stats: { reaped: number; skippedOwn: number; sweeps: number };
}

/** Starts the orphan reaper. Requires `--allow-ffi` and read access to procfs. */
export function startReaper(opts: ReaperOptions = {}): Reaper {
  const self = getpid();
  const procRoot = opts.procRoot ?? "/proc";
  const graceMs = opts.graceMs ?? 100;
  const isOwn = opts.isOwnChild ?? isOwnChild;
  const firstSeen = new Map<string, number>();
  const stats = { reaped: 0, skippedOwn: 0, sweeps: 0 };
  let running: Promise<number> | null = null;
  let again = false;
  let stopped = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;

  async function sweepOnce(): Promise<number> {
    stats.sweeps++;
    const zombies = await listZombies(self, procRoot);
    const now = performance.now();
    const seen = new Set<string>();
    let reaped = 0;
    let waiting = false;
    let held: Set<number> | null = null;
    for (const z of zombies) {
      const key = `${z.pid}:${z.startTime}`;
      seen.add(key);
      if (isOwn(z.pid)) {
        stats.skippedOwn++;
        continue;
      }
      const first = firstSeen.get(key) ?? now;
      firstSeen.set(key, first);
      if (now - first < graceMs) {
        waiting = true;
        continue;
      }
      // From here to waitpid everything is synchronous: Deno cannot spawn or reap in between.
      held ??= heldPidfdPids();
      if (held.has(z.pid) || isOwn(z.pid)) {
        stats.skippedOwn++;
        continue;
      }
      const st = readStatSync(z.pid, procRoot);
      if (!st || st.state !== "Z" || st.ppid !== self || st.startTime !== z.startTime) continue;
      try {
        const r = waitpid(z.pid, W.NOHANG);
        if (r) {
          reaped++;
          stats.reaped++;
          opts.onReap?.(r, z.comm);
        }
      } catch (e) {
        if (!(e instanceof SysError && e.code === "ECHILD")) throw e;
      }
    }
    for (const k of firstSeen.keys()) if (!seen.has(k)) firstSeen.delete(k);
    if (waiting && !stopped && retryTimer === undefined) {
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        void sweep();
      }, graceMs);
    }
    return reaped;
  }

  function sweep(): Promise<number> {
    if (stopped) return Promise.resolve(0);
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let total = 0;
      try {
        do {
          again = false;
          total += await sweepOnce();
        } while (again && !stopped);
      } finally {
        running = null;
      }
      return total;
    })();
    return running;
  }

  const onSig = () => void sweep();
  if (opts.onSigchld !== false) Deno.addSignalListener("SIGCHLD", onSig);
  const interval = setInterval(() => void sweep(), opts.intervalMs ?? 2000);
  void sweep();

  return {
    sweep,
    stats,
    stop() {
      stopped = true;
      clearInterval(interval);
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      if (opts.onSigchld !== false) Deno.removeSignalListener("SIGCHLD", onSig);
    },
  };
}
