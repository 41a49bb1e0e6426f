/**
 * {@link KernelWireguard} against the kernel in a throwaway network namespace, driven through
 * testdata/run_wglink.ts. Needs root, and a kernel with WireGuard (our VM kernel has it; a host
 * without it prints why the test is skipped — the VM suite covers it there).
 */
import assert from "node:assert/strict";
import { sh } from "../../base/sys/sh_testing.ts";

const isRoot = Deno.uid() === 0;
const RUNNER = new URL("./testdata/run_wglink.ts", import.meta.url).pathname;

Deno.test({
  name: "clusternet link: created with our key and the pod route, peers set and removed, deleted",
  ignore: !isRoot,
  async fn() {
    const ns = `metro-wglink-${Deno.pid}`;
    await sh("ip", "netns", "add", ns);
    try {
      const r = JSON.parse(
        await sh("ip", "netns", "exec", ns, Deno.execPath(), "run", "-A", RUNNER),
      );
      if (r.refused) {
        console.log(`skipped: this kernel has no WireGuard (${r.refused})`);
        return;
      }
      assert.deepEqual(
        { keyMatches: r.keyMatches, kind: r.kind, two: r.two, gone: r.gone },
        { keyMatches: true, kind: "wireguard", two: 2, gone: true },
      );
      assert.deepEqual(r.after, [
        { publicKey: true, endpoint: "10.1.58.3:7838", allowedIps: ["10.1.58.3/32"] },
      ]);
      assert.match(r.route, /^10\.192\.0\.0\/11 proto 77 scope link/);
    } finally {
      await sh("ip", "netns", "del", ns);
    }
  },
});
