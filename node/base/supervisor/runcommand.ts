/**
 * RunCommand (node.md §4.6): runs a child process as (the body of) a runnable, with its output in
 * the log tree, Healthy once running or ready, SIGTERM→SIGKILL (or SIGKILL at once) on abort, and failure on
 * exit.
 */
import { delay as sleep } from "../delay/delay.ts";
import { decodeCut, LineSplitter } from "../logtree/linesplitter.ts";
import { spawnTracked } from "./children.ts";
import { PARSERS } from "./parsers.ts";
import { type Context, signal } from "./supervisor.ts";

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  /** Environment of the child. */
  env?: Record<string, string>;
  /** Start from an empty environment (only `env`). */
  clearEnv?: boolean;
  /** Working directory. */
  cwd?: string;
  /**
   * How output lines become entries: `raw` (default) writes raw entries of the runnable's DN;
   * `klog`/`etcd-json` parse lines into leveled entries (unparsable lines stay raw).
   */
  parser?: "raw" | "klog" | "etcd-json";
  /** Healthy is signalled only once this returns true (polled); default: as soon as spawned. */
  readiness?: (signal: AbortSignal) => Promise<boolean>;
  /** Poll interval of `readiness` (default 100 ms). */
  readinessIntervalMs?: number;
  /** Wait between SIGTERM and SIGKILL on abort (default 10 000 ms). */
  killGraceMs?: number;
  /**
   * `SIGKILL` stops the child at once on abort instead of SIGTERM first: for a crash-safe server
   * whose graceful stop would harm its clients (etcd's sends HTTP/2 GOAWAY to our clients).
   */
  stopSignal?: "SIGTERM" | "SIGKILL";
  /**
   * Awaited on abort before the stop signal is sent, the child still serving: for a server whose
   * clients must finish something through it first (etcd outlives the curator's resignation).
   * Bound it yourself; a rejection is logged and the child stopped anyway.
   */
  beforeStop?: () => Promise<void>;
  /** Called with the PID right after spawning (tests, status). */
  onSpawn?: (pid: number) => void;
}

/** Describes an exit status as `<code>` or `<signal>`. */
export function describeExit(s: Deno.CommandStatus): string {
  return s.signal ? String(s.signal) : String(s.code);
}

/**
 * Runs `argv` until `ctx` is aborted (then returns after the child is gone) or the child exits on
 * its own (then throws `process exited: <code|signal>`). Signals Healthy on `ctx`.
 */
export async function runCommand(
  ctx: Context,
  argv: string[],
  opts: RunCommandOptions = {},
): Promise<void> {
  if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== "string")) {
    throw new Error("runCommand: argv must be a non-empty array of strings");
  }
  if (ctx.signal.aborted) return;
  const tree = ctx.supervisor.tree;
  const parse = opts.parser && opts.parser !== "raw" ? PARSERS[opts.parser] : undefined;
  if (opts.parser && opts.parser !== "raw" && !parse) {
    throw new Error(`runCommand: unknown parser ${JSON.stringify(opts.parser)}`);
  }
  const onLine = (bytes: Uint8Array, len: number) => {
    if (parse) {
      const p = parse(decodeCut(bytes, 64 * 1024));
      if (p) {
        tree.logLeveled(ctx.dn, p.severity, p.message, {
          location: p.location,
          timeUs: p.timeUs,
        });
        return;
      }
    }
    tree.logRaw(ctx.dn, bytes, len);
  };

  let child: Deno.ChildProcess;
  try {
    child = spawnTracked(
      new Deno.Command(argv[0], {
        args: argv.slice(1),
        env: opts.env,
        clearEnv: opts.clearEnv,
        cwd: opts.cwd,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }),
    );
  } catch (e) {
    throw new Error(`runCommand: cannot start ${argv[0]}: ${(e as Error).message}`);
  }
  opts.onSpawn?.(child.pid);
  const readers = [child.stdout.getReader(), child.stderr.getReader()];
  const pump = async (r: ReadableStreamDefaultReader<Uint8Array>) => {
    const split = new LineSplitter(onLine);
    try {
      for (;;) {
        const { done, value } = await r.read();
        if (done) break;
        split.write(value);
      }
    } catch {
      // Cancelled after the child exited (a grandchild kept the pipe open); keep what we have.
    }
    split.flush();
  };
  const pumps = Promise.all(readers.map(pump));
  // Ends the readiness loop and its timers when runCommand returns, whatever the reason.
  const local = new AbortController();
  const probeSignal = AbortSignal.any([ctx.signal, local.signal]);

  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const ready = (async () => {
    if (opts.readiness) {
      const interval = opts.readinessIntervalMs ?? 100;
      while (!exited && !probeSignal.aborted) {
        let ok = false;
        try {
          ok = await opts.readiness(probeSignal);
        } catch {
          ok = false;
        }
        if (ok) break;
        await sleep(interval, probeSignal);
      }
    }
    if (!exited && !ctx.signal.aborted) signal(ctx, "healthy");
  })();

  const aborted = new Promise<"aborted">((resolve) => {
    if (ctx.signal.aborted) resolve("aborted");
    probeSignal.addEventListener("abort", () => resolve("aborted"), { once: true });
  });
  const first = await Promise.race([status, aborted]);
  if (first === "aborted" && !exited && opts.beforeStop) {
    await opts.beforeStop().catch((e) =>
      ctx.logger.warning(`before stopping the process: ${(e as Error).message}`)
    );
  }
  if (first === "aborted" && !exited) {
    const kill = (sig: Deno.Signal) => {
      try {
        child.kill(sig);
      } catch {
        // Already exited.
      }
    };
    if (opts.stopSignal === "SIGKILL") {
      kill("SIGKILL");
    } else {
      kill("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = await Promise.race([
        status.then(() => false),
        new Promise<boolean>((r) => timer = setTimeout(() => r(true), opts.killGraceMs ?? 10_000)),
      ]);
      clearTimeout(timer);
      if (killed) {
        ctx.logger.warning(`process did not exit ${opts.killGraceMs ?? 10_000} ms after SIGTERM`);
        kill("SIGKILL");
      }
    }
  }
  const s = await status;
  // Grandchildren may keep the pipes open; do not wait for them for long.
  let t2: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([pumps, new Promise((r) => t2 = setTimeout(r, 500))]);
  clearTimeout(t2);
  for (const r of readers) r.cancel().catch(() => {});
  await pumps;
  local.abort();
  await ready.catch(() => {});
  if (ctx.signal.aborted) {
    ctx.logger.info(`process stopped: ${describeExit(s)}`);
    return;
  }
  throw new Error(`process exited: ${describeExit(s)}`);
}
