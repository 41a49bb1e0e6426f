/**
 * The agent's PID-1 duties (node.md §1): orderly shutdown on SIGTERM/SIGINT ending in a power
 * action, a guard so the process never just exits (every exit path goes through the power hook),
 * and — only when the agent is PID 1 itself — the orphan reaper.
 */
import { getpid } from "../sys/mod.ts";
import { type PowerAction, type PowerHook, realPowerHook } from "./power.ts";
import { type Reaper, type ReaperOptions, startReaper } from "./reaper.ts";

/** Options of {@link installPid1Duties}. */
export interface Pid1Options {
  /** How the process ends; default {@link realPowerHook}. */
  power?: PowerHook;
  /** Start the orphan reaper: default only when `getpid() === 1`; false never; options to tune. */
  reaper?: boolean | ReaperOptions;
  /** Upper bound for the shutdown hooks; default 10 s. */
  shutdownTimeoutMs?: number;
  /** Log sink (one line per call); default stderr. */
  log?: (line: string) => void;
}

/** Installed duties. */
export interface Pid1Duties {
  /** The reaper, when one runs. */
  readonly reaper: Reaper | null;
  /** Adds a hook run (in order, awaited) by an orderly shutdown before the power action. */
  onShutdown(fn: (reason: string) => void | Promise<void>): void;
  /** Orderly shutdown: hooks (bounded by the timeout), then the power hook. Never resolves. */
  shutdown(action: PowerAction, reason: string): Promise<never>;
}

let installed: Pid1Duties | null = null;

/**
 * Installs the duties once per process (a second call throws). Needs `--allow-ffi` and read
 * access to procfs.
 */
export function installPid1Duties(opts: Pid1Options = {}): Pid1Duties {
  if (installed) throw new Error("pid1 duties are already installed");
  const power = opts.power ?? realPowerHook;
  const log = opts.log ?? ((l: string) => console.error(l));
  const hooks: ((reason: string) => void | Promise<void>)[] = [];
  const timeout = opts.shutdownTimeoutMs ?? 10_000;
  let shuttingDown: Promise<never> | null = null;
  let pending: { action: PowerAction; reason: string } | null = null;

  const powerNow = (action: PowerAction, reason: string): never => power(action, reason);

  const shutdown = (action: PowerAction, reason: string): Promise<never> => {
    if (shuttingDown) return shuttingDown;
    pending = { action, reason };
    log(`pid1: orderly shutdown (${reason}), then ${action}`);
    shuttingDown = (async () => {
      const deadline = new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          log(`pid1: shutdown hooks still running after ${timeout} ms, giving up on them`);
          resolve();
        }, timeout);
        Deno.unrefTimer(t as unknown as number);
      });
      const run = (async () => {
        for (const h of hooks) {
          try {
            await h(reason);
          } catch (e) {
            log(`pid1: shutdown hook failed: ${(e as Error).message}`);
          }
        }
      })();
      await Promise.race([run, deadline]);
      return powerNow(action, reason);
    })();
    return shuttingDown;
  };
  // Signals: the first starts an orderly power-off, a second one cuts it short.
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(sig, () => {
      if (!shuttingDown) {
        void shutdown("poweroff", sig);
        return;
      }
      log(`pid1: ${sig} during shutdown, powering off now`);
      powerNow(pending?.action ?? "poweroff", `${pending?.reason ?? sig}, then ${sig}`);
    });
  }
  // Never just exit: Deno.exit() and a drained event loop both fire `unload`.
  globalThis.addEventListener("unload", () => {
    powerNow(pending?.action ?? "reboot", pending?.reason ?? `process exit, code ${Deno.exitCode}`);
  });
  // Uncaught errors do not fire `unload`: turn them into an orderly reboot.
  globalThis.addEventListener("error", (ev) => {
    ev.preventDefault();
    log(`pid1: uncaught error: ${String(ev.error?.stack ?? ev.message).split("\n")[0]}`);
    void shutdown("reboot", "uncaught error");
  });
  globalThis.addEventListener("unhandledrejection", (ev) => {
    ev.preventDefault();
    const r = ev.reason;
    log(`pid1: unhandled rejection: ${r instanceof Error ? r.message : String(r)}`);
    void shutdown("reboot", "unhandled rejection");
  });

  const wantReaper = opts.reaper ?? getpid() === 1;
  const reaper = wantReaper ? startReaper(typeof wantReaper === "object" ? wantReaper : {}) : null;
  if (reaper) log(`pid1: running as PID ${getpid()}, orphan reaper active`);

  installed = {
    reaper,
    onShutdown: (fn) => void hooks.push(fn),
    shutdown,
  };
  return installed;
}
