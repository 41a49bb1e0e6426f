/**
 * Registry of the child processes Deno itself spawned (`Deno.Command(...).spawn()`).
 *
 * When the agent runs as PID 1 without `/init` (namespace test mode), its orphan reaper
 * (`node/base/pid1`) must never reap a child Deno is waiting for, or Deno's own wait fails with
 * ECHILD. Every spawner registers the PID synchronously right after `spawn()` returns (no await in
 * between, so the reaper cannot run in the gap) and unregisters it after `child.status` settled.
 */

const children = new Set<number>();

/** Read-only view of the PIDs Deno spawned and has not yet reaped. */
export const ownChildren: ReadonlySet<number> = children;

/** Records `pid` as spawned by this process. Call synchronously right after `spawn()`. */
export function registerChild(pid: number): void {
  children.add(pid);
}

/** Forgets `pid`; call once `child.status` has settled (Deno has reaped it). */
export function unregisterChild(pid: number): void {
  children.delete(pid);
}

/** Whether `pid` was spawned by this process and is not yet reaped by Deno. */
export function isOwnChild(pid: number): boolean {
  return children.has(pid);
}

/** Spawns `cmd`, registers the child's PID at once, and unregisters it when its status resolves. */
export function spawnTracked(cmd: Deno.Command): Deno.ChildProcess {
  const child = cmd.spawn();
  const pid = child.pid;
  registerChild(pid);
  child.status.finally(() => unregisterChild(pid)).catch(() => {});
  return child;
}
