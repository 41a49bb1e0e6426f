/** Tier-1 tests of the pieces of the PID-1 duties that run outside a PID namespace. */
import assert from "node:assert/strict";
import { ownChildren } from "../supervisor/children.ts";
import { heldPidfdPids, listProcesses, parseStat, rebootRefusal, spawnTracked } from "./mod.ts";

Deno.test("pid1: parseStat handles spaces and parentheses in comm", () => {
  const line = "4242 (a (b) c) Z 1 4242 4242 0 -1 4194564 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0";
  assert.deepEqual(parseStat(line), {
    pid: 4242,
    comm: "a (b) c",
    state: "Z",
    ppid: 1,
    startTime: 987654,
  });
  assert.equal(parseStat("garbage"), null);
});

Deno.test("pid1: listProcesses sees this process with its parent", async () => {
  const me = (await listProcesses()).find((p) => p.pid === Deno.pid);
  assert.ok(me, "own process missing from /proc");
  assert.equal(me.ppid, Deno.ppid);
  assert.match(me.state, /^[RS]$/);
});

Deno.test("pid1: Deno holds a pidfd for a running child, and spawnTracked registers it", async () => {
  const child = spawnTracked(new Deno.Command("sleep", { args: ["5"], stdin: "null" }));
  try {
    assert.ok(ownChildren.has(child.pid), "spawnTracked did not register the child");
    assert.ok(heldPidfdPids().has(child.pid), "no pidfd for the child in /proc/self/fd");
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  await Promise.resolve();
  assert.ok(!ownChildren.has(child.pid), "child still registered after it was reaped");
  assert.ok(!heldPidfdPids().has(child.pid), "pidfd still open after the child was reaped");
});

Deno.test({
  name: "pid1: the real power hook refuses on a host (not PID 1, initial PID namespace)",
  // Inside a PID namespace reboot(2) is allowed (it ends only the namespace): nothing to prove.
  ignore: Deno.readLinkSync("/proc/self/ns/pid") !== "pid:[4026531836]",
}, () => {
  assert.match(rebootRefusal() ?? "", /not PID 1, not in a PID namespace/);
});
