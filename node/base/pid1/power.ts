/**
 * Power hooks: the one way the agent's process ends (node.md §1). The real hook flushes and calls
 * reboot(2); tests inject a hook that records the action and exits with a distinct code.
 */
import { getpid, RB, reboot, sync } from "../sys/mod.ts";

/**
 * What the agent asks the machine (or PID namespace) to do. `kexec` boots the kernel staged with
 * kexec_file_load (node/base/kexec); without one it falls back to a firmware reboot.
 */
export type PowerAction = "poweroff" | "reboot" | "kexec";

/** Ends the process; called synchronously (also from the `unload` event), never returns. */
export type PowerHook = (action: PowerAction, reason: string) => never;

/** `Deno.exit` as it was before anyone wrapped it; the hooks end the process with it. */
const originalExit: (code?: number) => never = Deno.exit.bind(Deno);

const INITIAL_PID_NS = "pid:[4026531836]";

/**
 * Returns null when reboot(2) is safe to call: we are PID 1, live in a non-initial PID
 * namespace (namespace node: it ends only the namespace), or are the child of the image's
 * `/init`. Otherwise returns why not: on a developer host reboot(2) would end the whole machine.
 */
export function rebootRefusal(): string | null {
  if (getpid() === 1) return null;
  try {
    if (Deno.readLinkSync("/proc/self/ns/pid") !== INITIAL_PID_NS) return null;
    if (Deno.ppid === 1 && Deno.readLinkSync("/proc/1/exe") === "/init") return null;
  } catch (e) {
    return `cannot inspect /proc (${(e as Error).message})`;
  }
  return "not PID 1, not in a PID namespace and not a child of /init";
}

function writeLine(line: string): void {
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
  } catch {
    // Console gone: nothing left to tell.
  }
}

/**
 * The real hook: `sync()` and reboot(2) (`RB_POWER_OFF`, `RB_KEXEC` or `RB_AUTOBOOT`). In a PID namespace
 * this ends the namespace: its init dies of SIGINT (power off) or SIGHUP (reboot). Refuses (and
 * exits 1) where reboot(2) would hit a developer's machine, see {@link rebootRefusal}.
 */
export const realPowerHook: PowerHook = (action, reason) => {
  writeLine(`pid1: ${action} (${reason})`);
  const refusal = rebootRefusal();
  if (refusal) {
    writeLine(`pid1: refusing reboot(2): ${refusal}; exiting instead`);
    return originalExit(1);
  }
  sync();
  if (action === "kexec") {
    try {
      reboot(RB.KEXEC);
    } catch (e) {
      writeLine(`pid1: kexec failed (${(e as Error).message}); rebooting through the firmware`);
    }
  }
  try {
    reboot(action === "poweroff" ? RB.POWER_OFF : RB.AUTOBOOT);
  } catch (e) {
    writeLine(`pid1: ${(e as Error).message}`);
  }
  return originalExit(1);
};

/**
 * A test hook: writes `pid1: power hook: <action> (<reason>)` to stdout, then exits with
 * `exitCode` (distinct from any code the workload uses), so a test can tell the power path
 * from a plain exit.
 */
export function recordingPowerHook(exitCode: number): PowerHook {
  return (action, reason) => {
    try {
      Deno.stdout.writeSync(new TextEncoder().encode(`pid1: power hook: ${action} (${reason})\n`));
    } catch {
      // stdout closed: the exit code still tells.
    }
    return originalExit(exitCode);
  };
}
