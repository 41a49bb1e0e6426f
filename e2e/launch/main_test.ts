/** Tier 1: the CLI's bad-input behaviour (exit 2 with one line naming the problem). */
import assert from "node:assert/strict";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

async function cli(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stderr: dec.decode(out.stderr), stdout: dec.decode(out.stdout) };
}

Deno.test("CLI: unknown flag and bad node sets exit 2 with one line", async () => {
  for (
    const [args, want] of [
      [["--frobnicate"], "launch: unknown flag --frobnicate\n"],
      [
        ["--num-nodes", "3", "--kubernetes-worker", "1,3"],
        "launch: --kubernetes-worker: node 3 does not exist (--num-nodes 3)\n",
      ],
      [["--consensus-member=2-1"], "launch: --consensus-member: range 2-1 ends before it starts\n"],
      [["--tpm", "none", "--tpm-mode", "required"], /^launch: --tpm none cannot satisfy/],
    ] as const
  ) {
    const r = await cli([...args]);
    assert.equal(r.code, 2, args.join(" "));
    if (typeof want === "string") assert.equal(r.stderr, want);
    else assert.match(r.stderr, want);
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.equal(r.stdout, "");
  }
});

Deno.test("CLI --help: both node kinds and the entry point's default mode", async () => {
  const r = await cli(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--mode namespace\|vm\s+node kind \(default here: namespace\)/);
  assert.match(r.stdout, /--keep-state --state-dir <dir>/);
  assert.match(r.stdout, /--ram 2048M/);
  const vm = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./main_vm.ts", import.meta.url).pathname, "--help"],
    stdout: "piped",
  }).output();
  assert.equal(vm.code, 0);
  assert.match(new TextDecoder().decode(vm.stdout), /node kind \(default here: vm\)/);
});
