/**
 * Tier 2: the switch's DHCP server on a real bridge, answering busybox udhcpc in node
 * namespaces (subnet 10.1.6.0/24, bridge metro6).
 */
import assert from "node:assert/strict";
import { parseSubnet } from "../../launch/options.ts";
import { nodeAddress, nodeMac, Topology } from "../../launch/net.ts";
import { DhcpServer, MSG } from "../../launch/dhcp.ts";

const SUBNET = parseSubnet("10.1.6.0/24");

/** Runs udhcpc once in `ns` (`-s /bin/true`: configure nothing) and returns the leased address. */
async function udhcpc(ns: string): Promise<string> {
  const out = await new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns,
      "busybox",
      "udhcpc",
      "-i",
      "eth0",
      "-n",
      "-q",
      "-f",
      "-s",
      "/bin/true",
      "-t",
      "3",
      "-T",
      "1",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const m = /lease of (\S+) obtained from (\S+), lease time (\d+)/.exec(text);
  if (!m) throw new Error(`udhcpc in ${ns} got no lease: ${text.trim()}`);
  assert.equal(m[2], "10.1.6.1");
  assert.equal(m[3], "30");
  return m[1];
}

Deno.test("DHCP: launcher MAC gets its reserved address, unknown MAC .100, renewal keeps it", async () => {
  const parent = await Deno.makeTempDir({ prefix: "metro-dhcp-test-" });
  const topo = new Topology(SUBNET, `${parent}/metropolis-launch-metro6.lock`);
  await topo.up();
  const replies: string[] = [];
  let dhcp: DhcpServer | undefined;
  try {
    const ns0 = await topo.addNode(0, false);
    const ns1 = await topo.addNode(1, false);
    // Node 0 is a launcher MAC; node 1's MAC is not reserved here, so it is "unknown".
    dhcp = DhcpServer.start(
      topo.bridge,
      SUBNET,
      new Map([[nodeMac(0), nodeAddress(SUBNET, 0)]]),
      (t, mac, addr) => replies.push(`${t} ${mac} ${addr}`),
    );
    assert.equal(await udhcpc(ns0), "10.1.6.2");
    assert.equal(await udhcpc(ns1), "10.1.6.100");
    assert.equal(
      await udhcpc(ns1),
      "10.1.6.100",
      "a new request within the lease keeps the address",
    );
    assert.ok(replies.includes(`${MSG.OFFER} ${nodeMac(0)} 10.1.6.2`), replies.join("; "));
    assert.ok(replies.includes(`${MSG.ACK} ${nodeMac(1)} 10.1.6.100`), replies.join("; "));
  } finally {
    await dhcp?.close();
    await topo.down();
    await Deno.remove(parent, { recursive: true });
  }
});
