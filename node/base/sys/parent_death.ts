/**
 * Children that must not outlive the process that started them (test nodes, QEMU, swtpm): their
 * argv is prefixed so that the kernel kills them if this process dies without stopping them
 * (SIGKILL, a crash, a test runner that exits on Ctrl-C before the teardown has run).
 *
 * `setpriv --pdeathsig KILL` sets PR_SET_PDEATHSIG on itself and execs the command, which keeps
 * it (it is dropped only for set-user-ID binaries and credential changes, which none of ours
 * make). The signal follows the death of the *thread* that spawned the child; Deno spawns
 * `Deno.Command` children from the JavaScript thread, which lives as long as the process.
 * @module
 */

/** The prefix (util-linux `setpriv`). */
const PREFIX: readonly string[] = Object.freeze(["setpriv", "--pdeathsig", "KILL"]);

/** `argv` run such that it gets SIGKILL when its parent dies. */
export function diesWithParent(argv: readonly string[]): string[] {
  if (argv.length === 0) throw new Error("diesWithParent: empty argv");
  return [...PREFIX, ...argv];
}
