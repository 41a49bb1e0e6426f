/**
 * Tier-1 test of the agent entry (root): node/main.ts as PID 1 of fresh mount and PID
 * namespaces on the namespace platform comes up to a Healthy root runnable, and SIGTERM takes
 * the orderly power-off path (the namespace's init ends "killed" by SIGINT).
 */
import assert from "node:assert/strict";
import { sourcePathConflict } from "./core/platform/root_plan.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
// A source run keeps the checkout at its host path in the node's root, which a checkout under /var
// cannot have (the plan refuses it with this reason).
const CONFLICT = sourcePathConflict(ROOT.replace(/\/$/, ""));
const SKIP = CONFLICT ? `skipped: ${CONFLICT}` : undefined;
if (SKIP) console.log(`main: ${SKIP}`);

function collect(stream: ReadableStream<Uint8Array>, onText: () => void): { text: string } {
  const acc = { text: "" };
  (async () => {
    for await (const t of stream.pipeThrough(new TextDecoderStream())) {
      acc.text += t;
      onText();
    }
  })();
  return acc;
}

Deno.test({
  name: "main: namespace bring-up to a Healthy root, SIGTERM powers off",
  ignore: !!SKIP,
}, async () => {
  const state = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "mk-pid1-main-" });
  const child = new Deno.Command("unshare", {
    // Its own network namespace too: the agent's network service configures every ethernet
    // interface it sees (DHCP), which must never be the host's.
    args: [
      "--mount",
      "--pid",
      "--net",
      "--fork",
      "--",
      Deno.execPath(),
      "run",
      "-A",
      MAIN,
      "--platform=namespace",
      `--state=${state}`,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let wake = () => {};
  const out = collect(child.stdout, () => wake());
  const err = collect(child.stderr, () => wake());
  const waitFor = async (re: RegExp, ms: number) => {
    const end = Date.now() + ms;
    while (!re.test(out.text)) {
      if (Date.now() > end) {
        throw new Error(
          `no ${re} after ${ms} ms\n--- stdout:\n${out.text}\n--- stderr:\n${err.text}`,
        );
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 200);
      });
    }
  };
  try {
    await waitFor(/root I root runnable healthy/, 30_000);
    assert.match(out.text, /^ +init I Metropolis agent starting \(platform namespace, pid 1\)$/m);
    assert.match(out.text, /init I mounted proc at \/proc/);
    assert.match(out.text, /init I mounted tmpfs at \/ephemeral/);
    assert.match(out.text, /init I running as PID 1 without \/init: orphan reaper active/);
    assert.match(out.text, /root I Metropolis node agent root started \(RLIMIT_NOFILE \d+\/\d+\)/);
    const ns1 = Number(
      (await Deno.readTextFile(`/proc/${child.pid}/task/${child.pid}/children`)).trim(),
    );
    Deno.kill(ns1, "SIGTERM");
    const st = await child.status;
    await new Promise((r) => setTimeout(r, 50));
    assert.match(out.text, /init I pid1: orderly shutdown \(SIGTERM\), then poweroff/);
    assert.match(out.text, /init I supervisor stopped/);
    assert.match(err.text, /pid1: poweroff \(SIGTERM\)/);
    assert.equal(st.signal, "SIGINT", `expected the power-off end, got ${JSON.stringify(st)}`);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already ended
    }
    await child.status;
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("main: an invalid flag is a one-line fatal bring-up error", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--platform=namespace", "--state=relative"],
    cwd: ROOT,
    stdin: "null",
  }).output();
  assert.equal(out.code, 2);
  assert.equal(
    new TextDecoder().decode(out.stderr),
    "agent: fatal: --state must be an absolute path\n",
  );
  assert.equal(out.stdout.length, 0);
});
