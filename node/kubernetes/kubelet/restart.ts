/**
 * Restarting a child process when a fact it was started with changes (the node address for the
 * kubelet and kube-proxy, containerd's readiness for the kubelet). The runnable stops its own
 * child and then throws, so the supervisor restarts it with backoff only once the old process is
 * gone: a runnable that threw while its child still ran would be restarted next to it.
 */
import type { Value } from "../../base/event/value.ts";
import { runCommand, type RunCommandOptions } from "../../base/supervisor/runcommand.ts";
import type { Context } from "../../base/supervisor/supervisor.ts";

/**
 * Resolves with `describe(v)` at the first value of `value` for which `changed(v)` is true;
 * never resolves once `signal` aborts.
 */
export function firstChange<T>(
  value: Value<T>,
  changed: (v: T) => boolean,
  describe: (v: T) => string,
  signal: AbortSignal,
): Promise<string> {
  return new Promise((resolve) => {
    (async () => {
      for await (const v of value.watch({ signal })) {
        if (changed(v)) return resolve(describe(v));
      }
    })().catch(() => {});
  });
}

/**
 * Runs `argv` like {@link runCommand} until `ctx` aborts; when any of `changes` resolves first,
 * sends SIGTERM to the child, waits for it to exit, and throws `restart: <reason>`.
 */
export async function runUntilChanged(
  ctx: Context,
  argv: string[],
  opts: RunCommandOptions,
  changes: (signal: AbortSignal) => Promise<string>[],
): Promise<void> {
  const local = new AbortController();
  const signal = AbortSignal.any([ctx.signal, local.signal]);
  let pid: number | undefined;
  let why: string | undefined;
  const kill = () => {
    try {
      if (pid !== undefined) Deno.kill(pid, "SIGTERM");
    } catch { /* already gone */ }
  };
  Promise.race(changes(signal)).then((r) => {
    if (signal.aborted) return;
    why = r;
    kill();
  });
  try {
    await runCommand(ctx, argv, {
      ...opts,
      onSpawn: (p) => {
        pid = p;
        opts.onSpawn?.(p);
        if (why) kill();
      },
    });
  } catch (e) {
    if (why && !ctx.signal.aborted) throw new Error(`restart: ${why}`);
    throw e;
  } finally {
    local.abort();
  }
}

/**
 * A readiness probe for `runCommand`: GET `url` (a component's plain-HTTP healthz on loopback)
 * answers 2xx within 2 s. kube-proxy answers 503 until its first rule sync: not ready yet.
 */
export function healthzProbe(url: string): (signal: AbortSignal) => Promise<boolean> {
  return async (signal) => {
    const r = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(2000)]) });
    await r.body?.cancel();
    return r.ok;
  };
}
