/**
 * Tier 2: PID-1 duties in real PID namespaces (root).
 * (a) the agent as PID 1 with its own orphan reaper: no zombies, and 100 of its own
 *     `Deno.Command().output()` calls report their real exit codes (a naive `waitpid(-1)` reaper
 *     loses most of them, which shows the workload does race);
 * (b) the same workload under the C `/init`: banner, no zombies, exit codes, SIGTERM forwarded to
 *     the agent, SIGUSR1 blocked in it (no inspector), and the end of the namespace when the agent
 *     powers off or exits;
 * (c) the power path: SIGTERM or an uncaught error end in the power hook, never a plain exit.
 */
import assert from "node:assert/strict";
import { buildInit } from "../../../os-image/init/build.ts";
import { startInNamespace } from "./nsproc.ts";

const ENTRY = new URL("./pid1_entry.ts", import.meta.url).pathname;
const DENO = [Deno.execPath(), "run", "-A", "--no-config", ENTRY];
const T = 20_000;

interface Result {
  pid: number;
  runs: number;
  failures: number;
  errors: string[];
  orphans: number;
  orphanMakerFailures: number;
  zombies: number;
  workMs: number;
}

function resultOf(text: string): Result {
  const m = /^PID1_RESULT (.*)$/m.exec(text);
  assert.ok(m, `no PID1_RESULT line in:\n${text}`);
  return JSON.parse(m[1]);
}

Deno.test("pid1 (a): agent as PID 1 reaps orphans without stealing its own children", async () => {
  const p = startInNamespace([...DENO, "--power=test:86", "--then=exit:0"]);
  const st = await p.status;
  const r = resultOf(p.stdout());
  console.log(
    `  reaper: ${r.failures}/${r.runs} failed runs, ${r.zombies} zombies, ${r.workMs} ms`,
  );
  assert.equal(r.pid, 1);
  assert.match(p.stdout(), /pid1: running as PID 1, orphan reaper active/);
  assert.equal(r.failures, 0, `runs failed: ${r.errors.join("; ")}`);
  assert.equal(r.runs, 100);
  assert.equal(r.orphanMakerFailures, 0);
  assert.equal(r.zombies, 0, "zombies left in the namespace");
  // Deno.exit(0) went through the power hook, not a plain exit.
  assert.match(p.stdout(), /pid1: power hook: reboot \(process exit, code 0\)/);
  assert.equal(st.code, 86, p.stderr());
});

Deno.test("pid1 (a): control runs: no reaper leaves zombies, a waitpid(-1) reaper loses exits", async () => {
  const none = startInNamespace([...DENO, "--duties=off", "--then=drain"]);
  assert.equal((await none.status).code, 0, none.stderr());
  const rn = resultOf(none.stdout());
  console.log(`  no reaper: ${rn.zombies} zombies`);
  assert.ok(rn.zombies >= rn.orphans, `expected the orphans as zombies, got ${rn.zombies}`);
  assert.equal(rn.failures, 0);

  const naive = startInNamespace([...DENO, "--duties=naive", "--then=drain"]);
  await naive.status;
  const rv = resultOf(naive.stdout());
  console.log(`  waitpid(-1) reaper: ${rv.failures}/${rv.runs} failed runs (${rv.errors[0]})`);
  assert.ok(rv.failures > 0, "a naive waitpid(-1) reaper should race Deno");
  assert.match(rv.errors[0], /No child processes/);
});

Deno.test("pid1 (b): the C /init reaps, forwards SIGTERM, and ends the namespace", async () => {
  const init = await buildInit();
  const ns = ["--uts", "--ipc"];
  const p = startInNamespace([init, "--", ...DENO, "--power=real", "--then=wait"], ns);
  try {
    await p.waitFor(/PID1_READY/, T);
    assert.match(p.stderr(), /^init: Metropolis dev starting \(pid 1\)$/m);
    const r = resultOf(p.stdout());
    console.log(`  under /init: ${r.failures}/${r.runs} failed runs, ${r.zombies} zombies`);
    assert.ok(r.pid > 1, `agent must not be PID 1 under /init, got ${r.pid}`);
    assert.doesNotMatch(p.stdout(), /orphan reaper active/);
    assert.equal(r.failures, 0, r.errors.join("; "));
    assert.equal(r.zombies, 0);
    // The agent runs with SIGUSR1 blocked, so a SIGUSR1 (init forwards it) never opens Deno's
    // inspector (an unauthenticated debugger on 127.0.0.1:9229).
    const initPid = await p.initHostPid();
    const agentPid = (await Deno.readTextFile(`/proc/${initPid}/task/${initPid}/children`)).trim();
    const status = await Deno.readTextFile(`/proc/${agentPid}/status`);
    const blocked = /^SigBlk:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    assert.equal(blocked && BigInt(`0x${blocked}`), 1n << 9n, "only SIGUSR1 (10) is blocked");
    Deno.kill(initPid, "SIGUSR1");
    await new Promise((r) => setTimeout(r, 700));
    assert.doesNotMatch(p.stderr(), /Debugger listening/);
    // SIGTERM to init is forwarded to the agent, which powers off: the namespace's init is
    // killed by SIGINT and unshare re-raises it.
    Deno.kill(initPid, "SIGTERM");
    const st = await p.status;
    assert.match(p.stdout(), /pid1: orderly shutdown \(SIGTERM\), then poweroff/);
    assert.match(p.stdout(), /PID1_SHUTDOWN_HOOK SIGTERM/);
    assert.match(p.stderr(), /pid1: poweroff \(SIGTERM\)/);
    assert.doesNotMatch(p.stderr(), /init: agent exited/);
    assert.equal(st.signal, "SIGINT", `unshare status ${JSON.stringify(st)}\n${p.stderr()}`);
  } finally {
    await p.kill();
  }

  // The agent exiting by itself: init reports it, syncs, waits 1 s and reboots (SIGHUP).
  const t0 = performance.now();
  const q = startInNamespace(
    [init, "--", ...DENO, "--duties=off", "--runs=5", "--orphans=5", "--then=exit:7"],
    ns,
  );
  const st = await q.status;
  const sinceExit = performance.now() - t0;
  assert.match(q.stderr(), /^init: agent exited: exit status 7$/m);
  assert.equal(resultOf(q.stdout()).zombies, 0, "init left zombies");
  assert.equal(st.signal, "SIGHUP", `unshare status ${JSON.stringify(st)}\n${q.stderr()}`);
  assert.ok(sinceExit >= 1000, `init must wait 1 s before reboot, took ${sinceExit} ms in total`);
});

Deno.test("pid1 (c): SIGTERM and uncaught errors end in the power hook", async () => {
  const p = startInNamespace([
    ...DENO,
    "--power=test:86",
    "--runs=5",
    "--orphans=2",
    "--then=wait",
  ]);
  try {
    await p.waitFor(/PID1_READY/, T);
    Deno.kill(await p.initHostPid(), "SIGTERM");
    const st = await p.status;
    assert.match(p.stdout(), /PID1_SHUTDOWN_HOOK SIGTERM/);
    assert.match(p.stdout(), /pid1: power hook: poweroff \(SIGTERM\)/);
    assert.equal(st.code, 86, `plain exit instead of the power hook: ${JSON.stringify(st)}`);
  } finally {
    await p.kill();
  }

  const q = startInNamespace([
    ...DENO,
    "--power=test:86",
    "--runs=5",
    "--orphans=2",
    "--then=throw",
  ]);
  const sq = await q.status;
  assert.match(q.stdout(), /pid1: uncaught error: Error: pid1_entry: deliberate uncaught error/);
  assert.match(q.stdout(), /pid1: power hook: reboot \(uncaught error\)/);
  assert.equal(sq.code, 86);

  // The real hook as PID 1: reboot(RB_POWER_OFF) ends the namespace, init "killed" by SIGINT.
  const r = startInNamespace([...DENO, "--power=real", "--runs=5", "--orphans=2", "--then=wait"]);
  try {
    await r.waitFor(/PID1_READY/, T);
    Deno.kill(await r.initHostPid(), "SIGTERM");
    const sr = await r.status;
    assert.match(r.stderr(), /pid1: poweroff \(SIGTERM\)/);
    assert.equal(sr.signal, "SIGINT", JSON.stringify(sr));
  } finally {
    await r.kill();
  }
});

Deno.test("pid1 (d): node/main.ts under the C /init: Healthy root, SIGTERM to init powers off", async () => {
  const init = await buildInit();
  const main = new URL("../../../node/main.ts", import.meta.url).pathname;
  const state = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "mk-pid1-ns-" });
  // node/main.ts needs the repository's import map (zod): run it with cwd = repository root.
  const cfg = new URL("../../../deno.json", import.meta.url).pathname;
  const p = startInNamespace(
    [
      init,
      "--",
      Deno.execPath(),
      "run",
      "-A",
      `--config=${cfg}`,
      main,
      "--platform=namespace",
      `--state=${state}`,
    ],
    // --net: the agent's network service must never configure the host's interfaces.
    ["--uts", "--ipc", "--net"],
  );
  try {
    await p.waitFor(/root I root runnable healthy/, T);
    assert.match(p.stderr(), /^init: Metropolis dev starting \(pid 1\)$/m);
    assert.match(p.stdout(), /init I Metropolis agent starting \(platform namespace, pid 2\)/);
    assert.doesNotMatch(p.stdout(), /orphan reaper active/, "agent under /init must not reap");
    // A daemon: it must still be up a while after Healthy (no drained event loop).
    await new Promise((r) => setTimeout(r, 1000));
    assert.doesNotMatch(p.stderr(), /process exit|agent exited/, p.stderr());
    Deno.kill(await p.initHostPid(), "SIGTERM");
    const st = await p.status;
    assert.match(p.stdout(), /init I pid1: orderly shutdown \(SIGTERM\), then poweroff/);
    assert.match(p.stdout(), /init I supervisor stopped/);
    assert.match(p.stderr(), /pid1: poweroff \(SIGTERM\)/);
    assert.equal(st.signal, "SIGINT", JSON.stringify(st));
  } finally {
    await p.kill();
    await Deno.remove(state, { recursive: true });
  }
});
