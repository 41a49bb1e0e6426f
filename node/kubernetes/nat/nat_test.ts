import assert from "node:assert/strict";
import { NAT_TABLE, natRuleset } from "./nat.ts";

const isRoot = Deno.uid() === 0;
const NS = `metro-nattest-${Deno.pid}`;
const RUNNER = new URL("./testdata/run_nat.ts", import.meta.url).pathname;

async function sh(cmd: string, ...args: string[]): Promise<{ ok: boolean; out: string }> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { ok: o.success, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

Deno.test("the ruleset masquerades pod traffic leaving the pod and service networks only", () => {
  const r = natRuleset({ podCidr: "10.192.0.0/11", serviceCidr: "10.224.0.0/16" });
  assert.match(r, /^table ip metropolis-nat\ndelete table ip metropolis-nat\n/);
  assert.match(r, /type nat hook postrouting priority srcnat; policy accept;/);
  assert.match(
    r,
    /\n {4}ip saddr 10\.192\.0\.0\/11 ip daddr != \{ 10\.192\.0\.0\/11, 10\.224\.0\.0\/16 \} masquerade\n/,
  );
  assert.equal(r.match(/masquerade/g)?.length, 1);
});

Deno.test({
  name: "podNat installs the table and forwarding in its namespace and removes the table on stop",
  ignore: !isRoot,
  async fn() {
    assert.ok((await sh("ip", "netns", "add", NS)).ok);
    let child: Deno.ChildProcess | undefined;
    try {
      child = new Deno.Command("ip", {
        args: ["netns", "exec", NS, Deno.execPath(), "run", "-A", RUNNER],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      while (!out.includes("healthy")) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`runner ended: ${out}`);
        out += value;
      }
      const table = await sh("ip", "netns", "exec", NS, "nft", "list", "table", "ip", NAT_TABLE);
      assert.ok(table.ok, table.out);
      // nft merges the two adjacent networks into one interval when it lists the set.
      assert.match(
        table.out,
        /ip saddr 10\.192\.0\.0\/11 ip daddr != \{ 10\.192\.0\.0-10\.224\.255\.255 \} masquerade/,
      );
      const fwd = await sh("ip", "netns", "exec", NS, "cat", "/proc/sys/net/ipv4/ip_forward");
      assert.equal(fwd.out.trim(), "1");
      // The host's table set is untouched.
      const host = await sh("nft", "list", "table", "ip", NAT_TABLE);
      assert.equal(host.ok, false, "the table must only exist inside the namespace");

      await child.stdin.close();
      while (!out.includes("stopped")) {
        const { value, done } = await lines.read();
        if (done) break;
        out += value;
      }
      assert.match(out, /stopped/);
      const after = await sh("ip", "netns", "exec", NS, "nft", "list", "table", "ip", NAT_TABLE);
      assert.equal(after.ok, false, `table still present: ${after.out}`);
      await child.status;
      child = undefined;
    } finally {
      if (child) {
        child.kill("SIGKILL");
        await child.status;
      }
      await sh("ip", "netns", "del", NS);
    }
  },
});
