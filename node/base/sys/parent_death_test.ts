import assert from "node:assert/strict";
import { diesWithParent } from "./parent_death.ts";

Deno.test("diesWithParent prefixes setpriv --pdeathsig KILL and refuses an empty argv", () => {
  assert.deepEqual(diesWithParent(["sleep", "1"]), [
    "setpriv",
    "--pdeathsig",
    "KILL",
    "sleep",
    "1",
  ]);
  assert.throws(() => diesWithParent([]), /empty argv/);
});

function alive(pid: number): boolean {
  try {
    // A killed orphan is reaped by init (or a subreaper) right away; a zombie counts as dead.
    return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

Deno.test("a child started through diesWithParent is killed when its parent is SIGKILLed", async () => {
  // The parent: a Deno process that starts the child and then waits forever.
  const script = `
    const [cmd, ...args] = ${JSON.stringify(diesWithParent(["sleep", "120"]))};
    const c = new Deno.Command(cmd, { args, stdin: "null" }).spawn();
    console.log(c.pid);
    await new Promise(() => setInterval(() => {}, 1000));
  `;
  const parent = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = parent.stdout.getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const pid = Number(out.trim());
  assert.ok(pid > 0, `no child PID from the parent: ${JSON.stringify(out)}`);
  try {
    assert.ok(alive(pid), "the child runs while its parent does");
    parent.kill("SIGKILL");
    await parent.status;
    await parent.stdout.cancel();
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      gone = !alive(pid);
      if (!gone) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(gone, `child ${pid} outlived its SIGKILLed parent`);
  } finally {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // gone, as expected
    }
  }
});
