/**
 * Helper for sys_test.ts, run under `unshare` so its mounts and hostname stay private.
 * Usage: `ns_helper.ts mount <dir>` | `ns_helper.ts hostname <name>`. Prints one JSON line.
 */
import { mount, MS, sethostname, SysError, umount } from "../mod.ts";

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
} else {
  throw new Error(`unknown mode ${JSON.stringify(what)}`);
}
