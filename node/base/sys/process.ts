/**
 * Process calls through libc: getpid, kill, umask, waitpid, waitid.
 *
 * The agent never waits for "any child" (node.md §1): {@link waitpid} and {@link waitid} take a
 * specific, positive PID so they cannot steal a child Deno itself waits for.
 */
import { lazyLibc } from "./libc.ts";
import { check } from "./errno.ts";
import { signalName, signalNumber } from "./signals.ts";

/** waitpid/waitid option bits (`<sys/wait.h>`). */
export const W = {
  NOHANG: 1,
  UNTRACED: 2,
  STOPPED: 2,
  EXITED: 4,
  CONTINUED: 8,
  NOWAIT: 0x0100_0000,
} as const;

/** waitid idtype values. */
export const P = { ALL: 0, PID: 1, PGID: 2 } as const;

/** How a child changed state. */
export interface WaitResult {
  /** The child's PID. */
  pid: number;
  /** Exit code when it exited normally. */
  exitCode?: number;
  /** Signal name when it was killed (or stopped) by a signal. */
  signal?: string;
  /** `exited`, `killed`, `dumped` (killed, core dumped), `stopped` or `continued`. */
  how: "exited" | "killed" | "dumped" | "stopped" | "continued";
}

const libc = lazyLibc({
  getpid: { parameters: [], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  umask: { parameters: ["u32"], result: "u32" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  waitid: { parameters: ["i32", "u32", "buffer", "i32"], result: "i32" },
});

/** Returns the calling process's PID as the kernel sees it in its PID namespace. */
export function getpid(): number {
  return libc().getpid();
}

/**
 * Sends `sig` (name or number; 0 only checks existence) to `pid` (negative: a process group).
 * Throws {@link SysError} (ESRCH, EPERM).
 */
export function kill(pid: number, sig: string | number): void {
  if (!Number.isInteger(pid)) throw new TypeError(`invalid pid ${pid}`);
  const s = libc();
  check(s, s.kill(pid, signalNumber(sig)), "kill", `${pid}, ${sig}`);
}

/** Sets the file mode creation mask; returns the previous one. */
export function umask(mask: number): number {
  if (!Number.isInteger(mask) || mask < 0 || mask > 0o777) {
    throw new TypeError(`umask must be 0..0o777, got ${mask}`);
  }
  return libc().umask(mask);
}

function requirePid(pid: number, call: string): void {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new TypeError(`${call} takes a specific positive pid, got ${pid}`);
  }
}

/** Decodes a wait status word as the W* macros of `<sys/wait.h>` do. */
export function decodeWaitStatus(pid: number, status: number): WaitResult {
  const low = status & 0x7f;
  if (low === 0) return { pid, how: "exited", exitCode: (status >> 8) & 0xff };
  if (status === 0xffff) return { pid, how: "continued" };
  if ((status & 0xff) === 0x7f) {
    return { pid, how: "stopped", signal: signalName((status >> 8) & 0xff) };
  }
  return { pid, how: (status & 0x80) ? "dumped" : "killed", signal: signalName(low) };
}

/**
 * waitpid(2) for one specific child. Returns null when `options` has {@link W.NOHANG} and the child
 * has not changed state. Throws {@link SysError} (ECHILD when it is not our child or already
 * reaped).
 */
export function waitpid(pid: number, options = 0): WaitResult | null {
  requirePid(pid, "waitpid");
  const status = new Int32Array(1);
  const s = libc();
  const r = check(s, s.waitpid(pid, new Uint8Array(status.buffer), options), "waitpid", `${pid}`);
  if (r === 0) return null;
  return decodeWaitStatus(r, status[0]);
}

const CLD = ["", "exited", "killed", "dumped", "stopped", "stopped", "continued"] as const;

/**
 * waitid(2) with P_PID for one specific child; `options` must include W.EXITED (and/or
 * W.STOPPED/W.CONTINUED); add W.NOWAIT to peek without reaping, W.NOHANG to not block.
 * Returns null when nothing is waitable (W.NOHANG). Throws {@link SysError}.
 */
export function waitid(pid: number, options: number): WaitResult | null {
  requirePid(pid, "waitid");
  // siginfo_t is 128 bytes; for SIGCHLD: si_code at 8, si_pid at 16, si_status at 24.
  const info = new Int32Array(32);
  const s = libc();
  check(s, s.waitid(P.PID, pid, new Uint8Array(info.buffer), options), "waitid", `${pid}`);
  const childPid = info[4];
  if (childPid === 0) return null;
  const how = CLD[info[2]] || "exited";
  if (how === "exited") return { pid: childPid, how, exitCode: info[6] };
  if (how === "continued") return { pid: childPid, how };
  return { pid: childPid, how, signal: signalName(info[6]) };
}
