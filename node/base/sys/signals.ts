/** Linux x86_64 signal numbers, by the names Deno uses for `Deno.Signal`. */

/** Signal name → number. */
export const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** Returns the number of a signal given by name or number; throws a TypeError when unknown. */
export function signalNumber(sig: string | number): number {
  if (typeof sig === "number") {
    if (Number.isInteger(sig) && sig >= 0 && sig <= 64) return sig;
    throw new TypeError(`invalid signal number ${sig}`);
  }
  const n = SIGNALS[sig];
  if (n === undefined) throw new TypeError(`unknown signal name ${JSON.stringify(sig)}`);
  return n;
}

/** Returns the name of a signal number (`SIG<n>` when unknown). */
export function signalName(n: number): string {
  for (const [k, v] of Object.entries(SIGNALS)) if (v === n) return k;
  return `SIG${n}`;
}
