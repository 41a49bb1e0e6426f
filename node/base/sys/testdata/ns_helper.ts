/**
 * Helper for sys_test.ts, run under `unshare` so its mounts and hostname stay private.
 * Usage: `ns_helper.ts mount <dir>` | `ns_helper.ts hostname <name>` | `ns_helper.ts wait` (as
 * PID 1 of a PID namespace with its own /proc). Prints one JSON line.
 */
import {
  getpid,
  kill,
  mount,
  MS,
  sethostname,
  SysError,
  umount,
  W,
  waitid,
  waitpid,
} from "../mod.ts";

const [what, arg] = Deno.args;
const mounted = (dir: string) =>
  Deno.readTextFileSync("/proc/self/mounts").split("\n").some((l) => l.split(" ")[1] === dir);
const errOf = (fn: () => void) => {
  try {
    fn();
    return null;
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    return { code: e.code, errno: e.errno, syscall: e.syscall, message: e.message };
  }
};

if (what === "mount") {
  mount("tmpfs", arg, "tmpfs", MS.NOSUID | MS.NODEV, "size=1m,mode=0700");
  const afterMount = mounted(arg);
  Deno.writeTextFileSync(`${arg}/probe`, "x");
  const mode = Deno.statSync(arg).mode! & 0o777;
  umount(arg);
  const afterUmount = mounted(arg);
  const probeGone = !Deno.statSync(arg).isFile && (() => {
    try {
      Deno.statSync(`${arg}/probe`);
      return false;
    } catch {
      return true;
    }
  })();
  const enoent = errOf(() => mount("tmpfs", `${arg}/does/not/exist`, "tmpfs"));
  const einval = errOf(() => umount(arg));
  const enodev = errOf(() => mount("x", arg, "no-such-fs-type"));
  console.log(JSON.stringify({ afterMount, mode, afterUmount, probeGone, enoent, einval, enodev }));
} else if (what === "hostname") {
  sethostname(arg);
  const tooLong = (() => {
    try {
      sethostname("x".repeat(65));
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  })();
  console.log(JSON.stringify({ hostname: Deno.hostname(), tooLong }));
} else if (what === "wait") {
  // Orphans become our children (we are PID 1): the subshell's PID is printed by its parent.
  const orphan = async (script: string) => {
    const out = await new Deno.Command("/bin/sh", { args: ["-c", script], stdout: "piped" })
      .output();
    return Number(new TextDecoder().decode(out.stdout).trim());
  };
  const state = (pid: number) => Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1][0];
  const poll = async (pid: number) => {
    for (let i = 0; i < 200; i++) {
      const r = waitid(pid, W.EXITED | W.NOHANG | W.NOWAIT);
      if (r) return r;
      await new Promise((res) => setTimeout(res, 10));
    }
    throw new Error(`pid ${pid} did not exit`);
  };
  const a = await orphan("(sleep 0.2; exit 5) >/dev/null 2>&1 & echo $!");
  const before = waitid(a, W.EXITED | W.NOHANG | W.NOWAIT);
  const peek = await poll(a);
  const stateAfterPeek = state(a);
  const reaped = waitpid(a);
  const again = errOf(() => waitpid(a, W.NOHANG));
  const b = await orphan("(sleep 5) >/dev/null 2>&1 & echo $!");
  kill(b, "SIGKILL");
  const killed = await poll(b);
  const killedReaped = waitpid(b);
  console.log(JSON.stringify({
    pid: getpid(),
    before,
    peek,
    stateAfterPeek,
    reaped,
    again,
    killed,
    killedReaped,
  }));
} else {
  throw new Error(`unknown mode ${JSON.stringify(what)}`);
}
