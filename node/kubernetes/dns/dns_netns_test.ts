/**
 * The cluster DNS with its real defaults in a throwaway network namespace: the address goes on
 * `lo`, the server answers on 169.254.77.53:53, and the address is gone after stop. Needs root.
 */
import assert from "node:assert/strict";
import { sh } from "../../base/sys/sh_testing.ts";

const NS = `metro-dnstest-${Deno.pid}`;
const RUNNER = new URL("./testdata/run_dns.ts", import.meta.url).pathname;

Deno.test({
  name: "cluster DNS puts 169.254.77.53 on lo, answers there, and takes it away on stop",
  ignore: Deno.uid() !== 0,
  async fn() {
    await sh("ip", "netns", "add", NS);
    try {
      // The node's network service brings lo up; a fresh namespace has it down.
      await sh("ip", "-n", NS, "link", "set", "lo", "up");
      const out = await sh("ip", "netns", "exec", NS, Deno.execPath(), "run", "-A", RUNNER);
      const r = JSON.parse(out.trim().split("\n").at(-1)!);
      assert.ok(r.during.includes("169.254.77.53/32"), JSON.stringify(r.during));
      assert.deepEqual(r.answers, ["10.224.0.1"]);
      assert.ok(!r.after.includes("169.254.77.53/32"), JSON.stringify(r.after));
    } finally {
      await sh("ip", "netns", "del", NS).catch(() => {});
    }
  },
});
