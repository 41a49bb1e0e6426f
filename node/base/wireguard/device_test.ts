/**
 * The FFI side against the kernel: generic netlink family resolution on the host, link creation
 * and deletion in a throwaway network namespace, and — where the kernel has WireGuard (our VM
 * kernel; not this build host) — a device configured and read back. Needs root for the namespace.
 */
import assert from "node:assert/strict";
import { NETLINK, NetlinkError, Rtnl } from "../net/rtnl.ts";
import { resolveFamily, WireguardClient } from "./device.ts";
import { GENL_ID_CTRL } from "./genl.ts";
import { sh } from "../sys/sh_testing.ts";

const isRoot = Deno.uid() === 0;
const RUNNER = new URL("./testdata/run_device.ts", import.meta.url).pathname;
const ENOENT = 2;

async function inNamespace<T>(fn: (ns: string) => Promise<T>): Promise<T> {
  const ns = `metro-wgtest-${Deno.pid}`;
  await sh("ip", "netns", "add", ns);
  try {
    return await fn(ns);
  } finally {
    await sh("ip", "netns", "del", ns);
  }
}

const runIn = async (ns: string, ...args: string[]) =>
  JSON.parse(await sh("ip", "netns", "exec", ns, Deno.execPath(), "run", "-A", RUNNER, ...args));

Deno.test("genl: the controller resolves its own family (nlctrl = 0x10)", () => {
  const nl = new Rtnl(NETLINK.GENERIC);
  try {
    assert.equal(resolveFamily(nl, "nlctrl"), GENL_ID_CTRL);
    assert.throws(
      () => resolveFamily(nl, "no-such-family"),
      (e) => e instanceof NetlinkError && e.errno === ENOENT,
    );
  } finally {
    nl.close();
  }
});

Deno.test({
  name: "rtnl: a virtual link is created by kind, found by name, and deleted",
  ignore: !isRoot,
  async fn() {
    await inNamespace(async (ns) => {
      const r = await runIn(ns, "bridge", "cn0");
      assert.deepEqual([r.name, r.kind, r.gone], ["cn0", "bridge", true]);
      assert.match(await sh("ip", "-n", ns, "link"), /^1: lo/);
    });
  },
});

Deno.test({
  name: "wireguard: a device gets key, port and a peer, reads back, loses the peer",
  ignore: !isRoot,
  async fn() {
    let hasWireguard = true;
    try {
      new WireguardClient().close();
    } catch (e) {
      if (!(e instanceof NetlinkError && e.errno === ENOENT)) throw e;
      hasWireguard = false;
    }
    await inNamespace(async (ns) => {
      const r = await runIn(ns, "wireguard", "clusternet");
      if (!hasWireguard) {
        // Creating the link is refused the same way the agent would see it.
        assert.ok(r.refused, `link created without WireGuard: ${JSON.stringify(r)}`);
        console.log(
          `skipped: this kernel has no WireGuard (generic netlink family "wireguard" absent; ` +
            `link add refused: ${r.refused}); only a VM kernel can run the round trip (e2e/suites/clusternet)`,
        );
        return;
      }
      assert.equal(r.kind, "wireguard");
      assert.equal(r.ownKeyMatches, true);
      assert.equal(r.device.listenPort, 7838);
      assert.deepEqual(r.device.peers.map((p: { publicKey: boolean }) => p.publicKey), [true]);
      assert.deepEqual(r.device.peers[0].allowedIps.sort(), ["10.1.58.3/32", "10.192.1.0/24"]);
      assert.equal(r.device.peers[0].endpoint, "10.1.58.3:7838");
      assert.equal(r.peersAfterRemove, 0);
      assert.equal(r.gone, true);
    });
  },
});
