/**
 * Test helper: runs a command in fresh namespaces, collects stdout/stderr as text, waits for
 * lines, and finds the PID namespace's init as seen from the host.
 */

/** A process under test with its collected output. */
export interface NsProc {
  /** The host PID of `unshare`. */
  readonly pid: number;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves when `re` matches stdout+stderr; rejects after `timeoutMs` with the output. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Host PID of the namespace's PID 1 (unshare's forked child). */
  initHostPid(): Promise<number>;
  /** Exit status of `unshare` (it re-raises the signal that killed the namespace's init). */
  status: Promise<Deno.CommandStatus>;
  /** Kills the whole thing (SIGKILL to the namespace init, which ends the namespace). */
  kill(): Promise<void>;
}

/** Starts `unshare --pid --fork --mount-proc [extra] -- argv…`. */
export function startInNamespace(argv: string[], extra: string[] = []): NsProc {
  const child = new Deno.Command("unshare", {
    args: ["--pid", "--fork", "--mount-proc", ...extra, "--", ...argv],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    for await (const t of s.pipeThrough(new TextDecoderStream())) {
      add(t);
      for (const w of waiters) w();
    }
  };
  const pumps = Promise.all([
    pump(child.stdout, (t) => out += t),
    pump(child.stderr, (t) => err += t),
  ]);
  const status = pumps.then(() => child.status);
  const proc: NsProc = {
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    status,
    waitFor(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = (out + "\n" + err).match(re);
          if (!m) return false;
          cleanup();
          resolve(m);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `timeout after ${timeoutMs} ms waiting for ${re}\n--- stdout:\n${out}\n--- stderr:\n${err}`,
            ),
          );
        }, timeoutMs);
        const onEnd = () => {
          if (!check()) {
            cleanup();
            reject(
              new Error(`process ended before ${re}\n--- stdout:\n${out}\n--- stderr:\n${err}`),
            );
          }
        };
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        if (check()) return;
        waiters.add(check);
        status.then(onEnd, onEnd);
      });
    },
    async initHostPid() {
      for (let i = 0; i < 100; i++) {
        try {
          const c = (await Deno.readTextFile(`/proc/${child.pid}/task/${child.pid}/children`))
            .trim();
          if (c) return Number(c.split(" ")[0]);
        } catch {
          // unshare not yet or no longer there
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`unshare ${child.pid} has no child`);
    },
    async kill() {
      try {
        Deno.kill(await proc.initHostPid(), "SIGKILL");
      } catch {
        // already gone
      }
      await status;
    },
  };
  return proc;
}
