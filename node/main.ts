/**
 * The node agent's entry (node.md §1–§3): parses the flags, performs the bring-up of §2 step 4
 * (mounts, logtree, consoles, stdout/stderr redirection), installs the PID-1 duties and starts
 * the supervisor with the root runnable (§2 step 5).
 *
 * Run by `/init` as `deno run -A … agent.js [--platform=vm|namespace] [--state=<dir>]
 * [--tpm-socket=<path>]`. Imports only node/base and node/core (the image bundles this file).
 * The first console line is `init I Metropolis agent starting (…)`; the root runnable logs
 * `root runnable healthy` once it signalled Healthy.
 */
import { formatArgs, LogTree, runConsole } from "./base/logtree/mod.ts";
import { installPid1Duties, startReaper } from "./base/pid1/mod.ts";
import { type Context, run, signal, Supervisor, untilAborted } from "./base/supervisor/mod.ts";
import {
  getpid,
  getrlimit,
  RLIMIT,
  setrlimit,
  SysError,
  trimMallocPeriodically,
} from "./base/sys/mod.ts";
import { type AgentFlags, FlagError, parseAgentFlags } from "./core/platform/mod.ts";
import type { Platform } from "./core/platform/platform.ts";
import { namespacePlatform } from "./core/platform/namespace.ts";
import { vmPlatform } from "./core/platform/vm.ts";
import { startCore } from "./core/root.ts";
import { isInstallerCmdline } from "./base/osimage/cmdline.ts";

/** RLIMIT_NOFILE the root runnable raises the agent to (soft and hard). */
export const NOFILE_LIMIT = 1048576;

const encoder = new TextEncoder();

function writeAllSync(f: { writeSync(p: Uint8Array): number }, text: string): void {
  let b = encoder.encode(text);
  while (b.length > 0) b = b.subarray(f.writeSync(b));
}

/**
 * The one place a platform name is looked at: `--platform` becomes the {@link Platform} every
 * other part of the agent asks for capabilities (node.md §3).
 */
export function platformOf(flags: AgentFlags): Platform {
  switch (flags.platform) {
    case "vm":
      return vmPlatform();
    case "namespace":
      return namespacePlatform(flags);
  }
}

/** Whether the kernel was booted with `metropolis.mode=installer` (the installer UKI). */
function installerMode(): boolean {
  try {
    return isInstallerCmdline(Deno.readTextFileSync("/proc/cmdline"));
  } catch {
    return false;
  }
}

/** Sends `console.*` into raw entries of DNs `stdout` (log/info/debug) and `stderr` (warn/error). */
function redirectConsole(tree: LogTree): void {
  const out = tree.rawWriter("stdout");
  const err = tree.rawWriter("stderr");
  const to = (w: typeof out) => (...args: unknown[]) => w.write(formatArgs(args) + "\n");
  console.log = console.info = console.debug = to(out);
  console.warn = console.error = to(err);
}

/**
 * Raises RLIMIT_NOFILE to {@link NOFILE_LIMIT}. Without CAP_SYS_RESOURCE (some sandboxes) the
 * hard limit cannot be raised: the soft limit goes to the hard one and a warning says so.
 */
function raiseNofile(log: Context["logger"]): void {
  const cur = getrlimit(RLIMIT.NOFILE);
  const hard = Math.max(cur.hard, NOFILE_LIMIT);
  try {
    setrlimit(RLIMIT.NOFILE, { soft: NOFILE_LIMIT, hard });
  } catch (e) {
    if (!(e instanceof SysError && e.code === "EPERM")) throw e;
    setrlimit(RLIMIT.NOFILE, { soft: cur.hard, hard: cur.hard });
    log.warning(`${e.message}: no CAP_SYS_RESOURCE, RLIMIT_NOFILE stays at ${cur.hard}`);
  }
}

/**
 * The root runnable (DN `root`): raises RLIMIT_NOFILE, starts the cluster-facing children
 * (`start`, node.md §2 step 5, which first initialises the TPM), signals Healthy and waits.
 */
export function makeRootRunnable(start?: (ctx: Context) => void | Promise<void>) {
  return async (ctx: Context): Promise<void> => {
    raiseNofile(ctx.logger);
    const lim = getrlimit(RLIMIT.NOFILE);
    ctx.logger.info(`Metropolis node agent root started (RLIMIT_NOFILE ${lim.soft}/${lim.hard})`);
    await start?.(ctx);
    signal(ctx, "healthy");
    ctx.logger.info("root runnable healthy");
    await untilAborted(ctx);
  };
}

/** The root runnable without cluster services (bring-up tests). */
export const rootRunnable = makeRootRunnable();

/** Runs the agent; resolves only when it is shutting down (the power hook ends the process). */
export async function main(args: readonly string[]): Promise<void> {
  // Like any init, work from /: the directory the agent was started in may disappear under the
  // bring-up mounts (a repository below /tmp on namespace nodes), and children inherit the cwd.
  Deno.chdir("/");
  let flags: AgentFlags;
  try {
    flags = parseAgentFlags(args);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    writeAllSync(Deno.stderr, `agent: fatal: ${e.message}\n`);
    Deno.exit(2);
  }

  const platform = platformOf(flags);
  const tree = new LogTree();
  const consoleStop = new AbortController();
  // Consoles (node.md §3): a VM's tty0, ttyS0 and ttyS1 where present; namespace nodes: stdout.
  const sinks = platform.consoles();
  const consoleDone = runConsole(tree, (t) => {
    for (const s of sinks) {
      try {
        writeAllSync(s, t);
      } catch { /* a console that went away must not stop the others */ }
    }
  }, { signal: consoleStop.signal });
  redirectConsole(tree);
  const init = tree.logger("init");
  init.info(`Metropolis agent starting (platform ${platform.name}, pid ${getpid()})`);

  // From here on every end of the process goes through the power hook. The orphan reaper
  // starts after the mounts (it needs the PID namespace's own /proc) and only when the agent is
  // PID 1 itself (no /init).
  const duties = installPid1Duties({ log: (l) => init.info(l), reaper: false });
  const flushConsole = async () => {
    // Let the console print the last lines before the power hook ends the process.
    await new Promise((r) => setTimeout(r, 50));
    consoleStop.abort();
    await consoleDone.catch(() => {});
  };
  try {
    // Mounts of §2 step 4; a namespace node first builds its private root and pivots into it.
    platform.bringUp((l) => init.info(l));
  } catch (e) {
    init.fatal(`bring-up failed: ${(e as Error).message}`);
    duties.onShutdown(flushConsole);
    await duties.shutdown("reboot", "bring-up failed");
    return;
  }
  if (getpid() === 1) {
    startReaper({ onReap: (r, comm) => init.info(`reaped orphan ${r.pid} (${comm})`) });
    init.info("running as PID 1 without /init: orphan reaper active");
  }

  // The agent is a daemon: pending promises and signal listeners do not keep Deno's event loop
  // alive, so without this it would drain once every runnable waits (and the guard reboots).
  setInterval(() => {}, 1 << 30);
  trimMallocPeriodically();

  const root = makeRootRunnable(async (ctx) => {
    const log = (l: string) => ctx.logger.info(l);
    if (installerMode()) {
      // Booted from the installer medium (image.md §11): install, then reboot into the node.
      // Loaded only here: the installer's OCI image schemas (zod) would cost every node's heap.
      const { installerRunnable } = await import("./core/installer/runnable.ts");
      run(
        ctx,
        "installer",
        installerRunnable({ reboot: () => duties.shutdown("reboot", "installed") }),
      );
      return;
    }
    const tpm = await platform.tpm(log);
    await platform.esp.mount(log);
    startCore(ctx, {
      platform,
      tree,
      power: (kind) => duties.shutdown(kind, "requested through the node management API"),
      tpm,
    });
  });
  const supervisor = new Supervisor(tree, root, {
    onRootExit: (err) => void duties.shutdown("reboot", `root runnable failed: ${err.message}`),
  });
  duties.onShutdown(async (reason) => {
    init.info(`stopping the supervisor (${reason})`);
    await supervisor.stop();
    init.info("supervisor stopped");
    // Every process of the node is gone: leave the disk clean for the next boot.
    platform.data.close((l) => init.info(l));
    platform.esp.close((l) => init.info(l));
  });
  duties.onShutdown(flushConsole);
}

if (import.meta.main) await main(Deno.args);
