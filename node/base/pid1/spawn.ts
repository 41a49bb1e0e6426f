/** Spawning children so the PID-1 reaper knows they are Deno's own. */
import { registerChild, unregisterChild } from "../supervisor/children.ts";

/**
 * Spawns `cmd` and registers the child's PID in the supervisor's `ownChildren` registry
 * synchronously, unregistering it once Deno has reaped it (`child.status` settled).
 */
export function spawnTracked(cmd: Deno.Command): Deno.ChildProcess {
  const child = cmd.spawn();
  const pid = child.pid;
  registerChild(pid);
  child.status.finally(() => unregisterChild(pid)).catch(() => {});
  return child;
}

/** Like `cmd.output()`, but through {@link spawnTracked}. Needs stdout/stderr `"piped"`. */
export function outputTracked(cmd: Deno.Command): Promise<Deno.CommandOutput> {
  return spawnTracked(cmd).output();
}
