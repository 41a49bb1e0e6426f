/**
 * The agent's PID-1 duties: orderly shutdown on SIGTERM/SIGINT, power hooks (the process never
 * just exits), and an orphan reaper for running as PID 1 without `/init` that only reaps
 * zombies Deno did not spawn.
 */
export { installPid1Duties, type Pid1Duties, type Pid1Options } from "./duties.ts";
export {
  type PowerAction,
  type PowerHook,
  realPowerHook,
  rebootRefusal,
  recordingPowerHook,
} from "./power.ts";
export { type Reaper, type ReaperOptions, startReaper } from "./reaper.ts";
export { heldPidfdPids, listProcesses, listZombies, parseStat, type ProcStat } from "./procfs.ts";
export { outputTracked, spawnTracked } from "./spawn.ts";
