/**
 * Tier-1 tests of the libc FFI (run as root). Mounts and hostnames change only inside private
 * namespaces created with `unshare` around a helper script.
 */
import assert from "node:assert/strict";
import { commandOutput } from "./command.ts";
import {
  decodeWaitStatus,
  getpid,
  getrlimit,
  kill,
  RLIMIT,
  setrlimit,
  SysError,
  umask,
  umount,
  W,
  waitid,
  waitpid,
} from "./mod.ts";

const HELPER = new URL("./testdata/ns_helper.ts", import.meta.url).pathname;

async function helper(unshareFlags: string[], args: string[]) {
  const out = await new Deno.Command("unshare", {
    args: [...unshareFlags, "--", Deno.execPath(), "run", "-A", "--no-config", HELPER, ...args],
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `helper failed: ${stderr}`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim());
}

Deno.test("sys: tmpfs mount and umount in a private mount namespace, typed errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mk-sys-" });
  try {
    const r = await helper(["--mount", "--propagation", "private"], ["mount", dir]);
    assert.equal(r.afterMount, true, "tmpfs not in /proc/self/mounts after mount");
    assert.equal(r.mode, 0o700, "mount data (mode=0700) not applied");
    assert.equal(r.afterUmount, false, "still mounted after umount");
    assert.equal(r.probeGone, true, "file written into the tmpfs visible after umount");
    assert.equal(r.enoent.code, "ENOENT");
    assert.equal(r.enoent.errno, 2);
    assert.equal(r.enoent.syscall, "mount");
    assert.match(r.enoent.message, /^mount\(".*\/does\/not\/exist"\): ENOENT: No such file/);
    assert.equal(r.einval.code, "EINVAL");
    assert.equal(r.einval.syscall, "umount2");
    assert.equal(r.enodev.code, "ENODEV");
    // The host namespace never saw the mount.
    const hostMounts = await Deno.readTextFile("/proc/self/mounts");
    assert.ok(!hostMounts.includes(` ${dir} `), "mount leaked into the host namespace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sys: umount of a plain directory is EINVAL as a SysError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mk-sys-" });
  try {
    assert.throws(() => umount(dir), SysError);
    try {
      umount(dir);
      assert.fail("umount of a plain directory succeeded");
    } catch (err) {
      assert.ok(err instanceof SysError);
      assert.equal(err.code, "EINVAL");
      assert.equal(err.errno, 22);
      assert.equal(err.message, `umount2(${JSON.stringify(dir)}): EINVAL: Invalid argument`);
      assert.ok(!err.message.includes("\n"));
    }
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("sys: sethostname inside a private UTS namespace", async () => {
  const before = Deno.hostname();
  const r = await helper(["--uts"], ["hostname", "mk-sys-host"]);
  assert.equal(r.hostname, "mk-sys-host");
  assert.match(r.tooLong, /hostname must be 1-64 bytes, got 65/);
  assert.equal(Deno.hostname(), before, "host name changed outside the namespace");
});

Deno.test("sys: waitid (WNOWAIT peeks) and waitpid reap a specific orphan as PID 1", async () => {
  const r = await helper(["--pid", "--fork", "--mount-proc"], ["wait"]);
  assert.equal(r.pid, 1);
  assert.equal(r.before, null, "waitid WNOHANG on a running child must return null");
  assert.deepEqual(r.peek, { pid: r.reaped.pid, how: "exited", exitCode: 5 });
  assert.equal(r.stateAfterPeek, "Z", "WNOWAIT must leave the zombie in place");
  assert.deepEqual(r.reaped, { pid: r.peek.pid, how: "exited", exitCode: 5 });
  assert.equal(r.again.code, "ECHILD");
  assert.deepEqual(r.killed, { pid: r.killedReaped.pid, how: "killed", signal: "SIGKILL" });
  assert.deepEqual(r.killedReaped, { pid: r.killed.pid, how: "killed", signal: "SIGKILL" });
});

Deno.test("sys: RLIMIT_NOFILE round trip and EINVAL for soft > hard", () => {
  const orig = getrlimit(RLIMIT.NOFILE);
  assert.ok(orig.soft > 0 && orig.hard >= orig.soft);
  try {
    const soft = Math.min(orig.hard, 4096) - 7;
    setrlimit(RLIMIT.NOFILE, { soft, hard: orig.hard });
    assert.deepEqual(getrlimit(RLIMIT.NOFILE), { soft, hard: orig.hard });
    try {
      setrlimit(RLIMIT.NOFILE, { soft: orig.hard + 1, hard: orig.hard });
      assert.fail("setrlimit with soft > hard succeeded");
    } catch (e) {
      assert.ok(e instanceof SysError, String(e));
      assert.equal(e.code, "EINVAL");
      assert.equal(e.message, "setrlimit(RLIMIT_NOFILE): EINVAL: Invalid argument");
    }
    assert.throws(() => setrlimit(RLIMIT.NOFILE, { soft: -1, hard: 1 }), /non-negative integer/);
  } finally {
    setrlimit(RLIMIT.NOFILE, orig);
  }
  assert.deepEqual(getrlimit(RLIMIT.NOFILE), orig);
});

Deno.test("sys: getpid, kill, umask, waitpid/waitid errors", async () => {
  assert.equal(getpid(), Deno.pid);
  const old = umask(0o027);
  assert.equal(umask(old), 0o027);
  // A live child: signal 0 succeeds, SIGTERM kills it (Deno reaps it, we only observe).
  const child = new Deno.Command("sleep", { args: ["30"], stdin: "null" }).spawn();
  kill(child.pid, 0);
  kill(child.pid, "SIGTERM");
  const st = await child.status;
  assert.equal(st.signal, "SIGTERM");
  // Not our child (our own PID): ECHILD from both calls; nonsense PIDs are refused before libc.
  assert.throws(
    () => waitpid(Deno.pid, W.NOHANG),
    (e: unknown) => (e as SysError).code === "ECHILD",
  );
  assert.throws(
    () => waitid(Deno.pid, W.EXITED | W.NOHANG),
    (e: unknown) => (e as SysError).code === "ECHILD",
  );
  assert.throws(() => waitpid(-1), /specific positive pid/);
  assert.throws(() => kill(0x3fffffff, 0), (e: unknown) => (e as SysError).code === "ESRCH");
  assert.throws(() => kill(1, "SIGNOPE"), /unknown signal name/);
});

Deno.test("sys: decodeWaitStatus matches the W* macros", () => {
  assert.deepEqual(decodeWaitStatus(5, 3 << 8), { pid: 5, how: "exited", exitCode: 3 });
  assert.deepEqual(decodeWaitStatus(5, 15), { pid: 5, how: "killed", signal: "SIGTERM" });
  assert.deepEqual(decodeWaitStatus(5, 0x80 | 11), { pid: 5, how: "dumped", signal: "SIGSEGV" });
  assert.deepEqual(decodeWaitStatus(5, (19 << 8) | 0x7f), {
    pid: 5,
    how: "stopped",
    signal: "SIGSTOP",
  });
  assert.deepEqual(decodeWaitStatus(5, 0xffff), { pid: 5, how: "continued" });
});

Deno.test("sys: importing needs no --allow-ffi; the first call does", async () => {
  const mod = new URL("./mod.ts", import.meta.url).href;
  const script = await Deno.makeTempFile({ prefix: "mk-sys-", suffix: ".ts" });
  await Deno.writeTextFile(
    script,
    `import { getpid } from ${JSON.stringify(mod)};
console.log("imported");
try { getpid(); console.log("called"); } catch (e) { console.log("denied:" + e.name); }`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--no-config", "--no-prompt", script],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  await Deno.remove(script);
  const text = new TextDecoder().decode(out.stdout);
  assert.match(text, /^imported\ndenied:NotCapable\n$/, new TextDecoder().decode(out.stderr));
});

Deno.test("commandOutput: writes stdin, collects stdout and stderr, reports the exit", async () => {
  const cat = await commandOutput("cat", [], { stdin: "through stdin\n" });
  assert.equal(cat.success, true);
  assert.equal(new TextDecoder().decode(cat.stdout), "through stdin\n");
  const fail = await commandOutput("sh", ["-c", "echo oops >&2; exit 3"]);
  assert.equal(fail.code, 3);
  assert.equal(new TextDecoder().decode(fail.stderr), "oops\n");
});
