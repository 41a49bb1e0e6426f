/**
 * A minimal "agent" for the PID-1 tests: installs the pid1 duties (or not), runs a workload that
 * makes orphans while checking exit codes of its own `Deno.Command` children, prints one
 * `PID1_RESULT {json}` line, then ends as told.
 *
 * Flags:
 *   --duties=on|off|naive  install node/base/pid1 (default on), nothing, or (for comparison
 *                          only) a naive `waitpid(-1, WNOHANG)` loop on SIGCHLD, which the
 *                          project forbids because it races Deno's own child handling
 *   --power=real|test:<n>  power hook: reboot(2), or record and exit with code n (default test:86)
 *   --grace=<ms>           the reaper's grace period (default: the library's)
 *   --runs=<n>             Deno.Command().output() calls checked for their exit codes (100)
 *   --orphans=<n>          children that each leave an orphaned grandchild behind (20)
 *   --then=wait|exit:<n>|throw|drain   after the result: wait for signals (prints PID1_READY),
 *                          Deno.exit(n), throw an uncaught error, or let the event loop drain
 */
import { installPid1Duties, listZombies, recordingPowerHook } from "../../../node/base/pid1/mod.ts";
import { realPowerHook } from "../../../node/base/pid1/power.ts";
import { getpid } from "../../../node/base/sys/mod.ts";

const flags = new Map<string, string>();
for (const a of Deno.args) {
  const m = /^--([a-z]+)=(.*)$/.exec(a);
  if (!m) throw new Error(`pid1_entry: bad argument ${JSON.stringify(a)}`);
  flags.set(m[1], m[2]);
}
const flag = (k: string, d: string) => flags.get(k) ?? d;

const out = (line: string) => void Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));
const pid = getpid();
out(`PID1_START pid=${pid}`);

if (flag("duties", "on") === "on") {
  const p = flag("power", "test:86");
  const power = p === "real" ? realPowerHook : recordingPowerHook(Number(p.slice("test:".length)));
  // --grace=0 shows the pidfd check alone protects unregistered Deno children.
  const grace = flags.has("grace") ? { graceMs: Number(flags.get("grace")) } : true;
  const duties = installPid1Duties({ power, log: out, reaper: getpid() === 1 ? grace : false });
  duties.onShutdown((reason) => out(`PID1_SHUTDOWN_HOOK ${reason}`));
}

if (flag("duties", "on") === "naive") {
  const libc = Deno.dlopen("libc.so.6", {
    waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  });
  const status = new Uint8Array(4);
  const reapAll = () => {
    while (libc.symbols.waitpid(-1, status, 1) > 0) { /* reaped one */ }
  };
  Deno.addSignalListener("SIGCHLD", reapAll);
  Deno.unrefTimer(setInterval(reapAll, 2000) as unknown as number);
}

const runs = Number(flag("runs", "100"));
const orphans = Number(flag("orphans", "20"));
let failures = 0;
const errors: string[] = [];
let orphanMakerFailures = 0;

// Orphan makers and checked commands run interleaved, so reaping happens while Deno waits.
async function makeOrphan() {
  try {
    const r = await new Deno.Command("/bin/sh", {
      args: ["-c", "(sleep 0.05 &) ; exit 3"],
      stdin: "null",
    }).output();
    if (r.code !== 3) orphanMakerFailures++;
  } catch {
    orphanMakerFailures++;
  }
}
async function checked(i: number) {
  const want = i % 7;
  try {
    const r = await new Deno.Command("/bin/sh", {
      args: ["-c", `(sleep 0.0$((${i} % 3)) &) ; exit ${want}`],
      stdin: "null",
    }).output();
    if (r.code !== want) {
      failures++;
      errors.push(`run ${i}: exit code ${r.code}, want ${want}`);
    }
  } catch (e) {
    failures++;
    errors.push(`run ${i}: ${(e as Error).message}`);
  }
}
const start = performance.now();
const work: Promise<void>[] = [];
for (let i = 0; i < Math.max(runs, orphans); i++) {
  if (i < orphans) work.push(makeOrphan());
  if (i < runs) work.push(checked(i));
  if (work.length >= 8) await Promise.all(work.splice(0));
}
await Promise.all(work);
const workMs = Math.round(performance.now() - start);

// Let the last grandchildren exit and the reaper (if any) catch up, then count zombies.
let zombies = await listZombies();
for (let i = 0; i < 30 && zombies.length > 0 && flag("duties", "on") === "on"; i++) {
  await new Promise((r) => setTimeout(r, 100));
  zombies = await listZombies();
}
if (flag("duties", "on") !== "on") {
  // Without a reaper the orphans' zombies stay: wait until every grandchild has exited.
  await new Promise((r) => setTimeout(r, 300));
  zombies = await listZombies();
}
out(
  `PID1_RESULT ${
    JSON.stringify({
      pid,
      runs,
      failures,
      errors: errors.slice(0, 5),
      orphans,
      orphanMakerFailures,
      zombies: zombies.length,
      workMs,
    })
  }`,
);

const then = flag("then", "wait");
if (then === "wait") {
  out("PID1_READY");
  setInterval(() => {}, 1 << 30);
} else if (then.startsWith("exit:")) {
  Deno.exit(Number(then.slice(5)));
} else if (then === "throw") {
  setTimeout(() => {
    throw new Error("pid1_entry: deliberate uncaught error");
  }, 0);
} else if (then !== "drain") {
  throw new Error(`pid1_entry: bad --then=${then}`);
}
