/** Spawning children so the PID-1 reaper knows they are Deno's own. */
import { spawnTracked } from "../supervisor/children.ts";

export { spawnTracked };

/**
 * Like `cmd.output()`, but through the supervisor's `spawnTracked` (PID registered in
 * `ownChildren` until Deno reaped it). The command needs `stdout`/`stderr` `"piped"` as
 * `output()` does.
 */
export function outputTracked(cmd: Deno.Command): Promise<Deno.CommandOutput> {
  return spawnTracked(cmd).output();
}
