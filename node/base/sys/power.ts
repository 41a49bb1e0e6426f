/** sync(2) and reboot(2) through libc: the agent's power actions (node.md §1). */
import { lazyLibc } from "./libc.ts";
import { check } from "./errno.ts";

/**
 * reboot(2) commands (`<sys/reboot.h>`, `<linux/reboot.h>`). Values are passed as signed 32-bit
 * integers, as the C prototype `int reboot(int)` does.
 */
export const RB = {
  /** Restart the machine; in a PID namespace the namespace's init dies of SIGHUP. */
  AUTOBOOT: 0x01234567,
  /** Power off; in a PID namespace the namespace's init dies of SIGINT. */
  POWER_OFF: 0x4321fedc,
  /** Halt; in a PID namespace like POWER_OFF. */
  HALT_SYSTEM: 0xcdef0123 | 0,
  /** Boot a kernel loaded with kexec_file_load; EINVAL in a PID namespace or with none loaded. */
  KEXEC: 0x45584543,
} as const;

const libc = lazyLibc({
  sync: { parameters: [], result: "void" },
  reboot: { parameters: ["i32"], result: "i32" },
});

/** Flushes all filesystem buffers (sync(2)). */
export function sync(): void {
  libc().sync();
}

/**
 * Calls reboot(2) with one of {@link RB}. On success it does not return (the machine or the PID
 * namespace ends). Throws {@link SysError} otherwise (e.g. EPERM, EINVAL for KEXEC without a
 * loaded kernel or inside a PID namespace).
 */
export function reboot(cmd: number): never {
  const s = libc();
  check(s, s.reboot(cmd | 0), "reboot", rebootName(cmd));
  // reboot(2) returned 0: only happens for commands that do not end the system (CAD on/off).
  throw new Error(`reboot(${rebootName(cmd)}) returned without ending the system`);
}

function rebootName(cmd: number): string {
  for (const [k, v] of Object.entries(RB)) if ((v | 0) === (cmd | 0)) return `RB_${k}`;
  return `0x${(cmd >>> 0).toString(16)}`;
}
