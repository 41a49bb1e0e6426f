/**
 * {@link KernelRoutes} against the kernel: a throwaway network namespace with a veth link on
 * 10.1.0.2/24 (the "shared L2"), driven through testdata/run_routes.ts. Needs root.
 */
import assert from "node:assert/strict";
import { onLinkIndex, parseClusternetRoute, RTPROT_CLUSTERNET } from "./kernel.ts";
import { sh } from "../../base/sys/sh_testing.ts";

const isRoot = Deno.uid() === 0;
const NS = `metro-cnettest-${Deno.pid}`;
const RUNNER = new URL("./testdata/run_routes.ts", import.meta.url).pathname;

const inNs = (...args: string[]) =>
  sh("ip", "netns", "exec", NS, Deno.execPath(), "run", "-A", RUNNER, ...args);

Deno.test({
  name: "clusternet routes are installed via on-link peers, found again by protocol, and removed",
  ignore: !isRoot,
  async fn() {
    await sh("ip", "netns", "add", NS);
    try {
      // A veth pair inside the namespace stands for the node's Ethernet link (no dummy module
      // on every host kernel).
      await sh("ip", "-n", NS, "link", "add", "d0", "type", "veth", "peer", "name", "d1");
      await sh("ip", "-n", NS, "link", "set", "d1", "up");
      await sh("ip", "-n", NS, "addr", "add", "10.1.0.2/24", "dev", "d0");
      await sh("ip", "-n", NS, "link", "set", "d0", "up");
      // A route of someone else, which must never be touched.
      await sh("ip", "-n", NS, "route", "add", "10.192.50.0/24", "via", "10.1.0.9");

      assert.equal((await inNs("replace", "10.192.1.0/24", "10.1.0.3")).trim(), "true");
      assert.equal((await inNs("replace", "10.192.2.0/24", "10.1.0.4")).trim(), "true");
      assert.equal((await inNs("replace", "10.192.9.0/24", "192.168.7.7")).trim(), "false");
      // Re-homing replaces in place.
      assert.equal((await inNs("replace", "10.192.2.0/24", "10.1.0.5")).trim(), "true");

      const shown = await sh("ip", "-n", NS, "route", "show", "proto", String(RTPROT_CLUSTERNET));
      assert.deepEqual(shown.trim().split("\n").map((l) => l.trim()).sort(), [
        "10.192.1.0/24 via 10.1.0.3 dev d0",
        "10.192.2.0/24 via 10.1.0.5 dev d0",
      ]);
      const listed = JSON.parse(await inNs("list"));
      assert.deepEqual(
        listed.map((r: { dst: string; dstLen: number; gateway: string }) =>
          `${r.dst}/${r.dstLen} ${r.gateway}`
        ).sort(),
        ["10.192.1.0/24 10.1.0.3", "10.192.2.0/24 10.1.0.5"],
      );

      assert.equal((await inNs("remove-all")).trim(), "ok");
      assert.equal(
        await sh("ip", "-n", NS, "route", "show", "proto", String(RTPROT_CLUSTERNET)),
        "",
      );
      assert.match(await sh("ip", "-n", NS, "route"), /10\.192\.50\.0\/24 via 10\.1\.0\.9/);
    } finally {
      await sh("ip", "netns", "del", NS).catch(() => {});
    }
  },
});

Deno.test("the on-link interface is the one whose subnet holds the gateway", () => {
  const addrs = [
    { index: 1, address: "127.0.0.1", prefixLen: 8 },
    { index: 5, address: "169.254.77.53", prefixLen: 32 },
    { index: 2, address: "10.1.0.2", prefixLen: 24 },
  ];
  assert.equal(onLinkIndex(addrs, "10.1.0.200"), 2);
  assert.equal(onLinkIndex(addrs, "10.1.0.2"), undefined, "our own address is no gateway");
  assert.equal(onLinkIndex(addrs, "10.2.0.1"), undefined);
});

Deno.test("route dump entries of other protocols or tables are not clusternet's", () => {
  const entry = (table: number, proto: number) =>
    new Uint8Array([
      2,
      24,
      0,
      0,
      table,
      proto,
      0,
      1,
      0,
      0,
      0,
      0,
      8,
      0,
      1,
      0,
      10,
      192,
      1,
      0, // RTA_DST
      8,
      0,
      5,
      0,
      10,
      1,
      0,
      3, // RTA_GATEWAY
      8,
      0,
      4,
      0,
      2,
      0,
      0,
      0, // RTA_OIF
    ]);
  assert.deepEqual(parseClusternetRoute(entry(254, RTPROT_CLUSTERNET)), {
    dst: "10.192.1.0",
    dstLen: 24,
    gateway: "10.1.0.3",
    oif: 2,
  });
  assert.equal(parseClusternetRoute(entry(254, 4)), undefined);
  assert.equal(parseClusternetRoute(entry(255, RTPROT_CLUSTERNET)), undefined);
  assert.equal(parseClusternetRoute(new Uint8Array(5)), undefined);
});
