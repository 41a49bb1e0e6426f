/**
 * Tier 1: the switch's SOCKS5 rules against real sockets. The node "subnet" is 127.0.0.0/24, so
 * allowed targets (127.0.0.2 …) are real loopback listeners and no root is needed.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { Buffer } from "node:buffer";
import { REPLY, socks5Connect, SocksError } from "../../node/base/socks/mod.ts";
import { checkTarget, NodeDialer, SwitchSocks } from "./socks.ts";
import { parseSubnet } from "./options.ts";

const SUBNET = parseSubnet("127.0.0.0/24");

/** An echo server on `host` (any port) prefixing replies with its name. */
async function echoServer(host: string, name: string): Promise<{ port: number; close(): void }> {
  const srv = net.createServer((s) => s.on("data", (d) => s.write(`${name}:${d}`)));
  await new Promise<void>((r) => srv.listen(0, host, r));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

async function roundTrip(s: net.Socket, msg: string): Promise<string> {
  s.resume();
  s.write(msg);
  const [d] = await new Promise<Buffer[]>((r) => s.once("data", (b) => r([b])));
  s.destroy();
  return d.toString();
}

async function replyOf(p: Promise<net.Socket>): Promise<number> {
  try {
    (await p).destroy();
    return REPLY.SUCCEEDED;
  } catch (e) {
    assert.ok(e instanceof SocksError, `expected SocksError, got ${e}`);
    return e.reply;
  }
}

Deno.test("checkTarget: subnet, reserved hosts, names, IPv6", () => {
  const table = new Map([["metropolis-abc", "127.0.0.5"], ["outside", "10.9.9.9"]]);
  assert.deepEqual(checkTarget(SUBNET, table, 1, "127.0.0.2"), { ok: true, host: "127.0.0.2" });
  for (const h of ["127.0.0.0", "127.0.0.1", "127.0.0.255", "10.1.0.2", "127.0.1.2"]) {
    assert.deepEqual(checkTarget(SUBNET, table, 1, h), { ok: false, reply: 2 }, h);
  }
  assert.deepEqual(checkTarget(SUBNET, table, 3, "metropolis-abc"), {
    ok: true,
    host: "127.0.0.5",
  });
  assert.deepEqual(checkTarget(SUBNET, table, 3, "unknown"), { ok: false, reply: 4 });
  // A table entry outside the subnet is still refused.
  assert.deepEqual(checkTarget(SUBNET, table, 3, "outside"), { ok: false, reply: 2 });
  assert.deepEqual(checkTarget(SUBNET, table, 4, "::1"), { ok: false, reply: 8 });
});

Deno.test("switch SOCKS5: reply codes against real sockets, relay for grpc-js", async () => {
  const a = await echoServer("127.0.0.2", "a");
  const log: [string, number][] = [];
  const socks = await SwitchSocks.start({
    subnet: SUBNET,
    firstPort: 21080,
    onRequest: (d, r) => log.push([d.host, r]),
  });
  const proxy = { host: "127.0.0.1", port: socks.port };
  const dialer = new NodeDialer(socks.address);
  try {
    socks.table.set("node-a", "127.0.0.2");
    // Allowed: IPv4 in the subnet, and a node ID from the table.
    assert.equal(
      await roundTrip(await socks5Connect(proxy, { host: "127.0.0.2", port: a.port }), "hi"),
      "a:hi",
    );
    assert.equal(
      await roundTrip(await socks5Connect(proxy, { host: "node-a", port: a.port }), "yo"),
      "a:yo",
    );
    // Denied targets.
    const code = (host: string, port = a.port) => replyOf(socks5Connect(proxy, { host, port }));
    assert.equal(await code("127.0.0.1"), REPLY.NOT_ALLOWED);
    assert.equal(await code("127.0.0.0"), REPLY.NOT_ALLOWED);
    assert.equal(await code("127.0.0.255"), REPLY.NOT_ALLOWED);
    assert.equal(await code("192.0.2.1"), REPLY.NOT_ALLOWED);
    assert.equal(await code("no-such-node"), REPLY.HOST_UNREACHABLE);
    assert.equal(await code("::1"), REPLY.ADDRESS_TYPE_NOT_SUPPORTED);
    assert.equal(await code("127.0.0.3"), REPLY.CONNECTION_REFUSED);
    // BIND (command 2) → 0x07, with a hand-written request.
    const raw = net.connect(socks.port, "127.0.0.1");
    await new Promise((r) => raw.once("connect", r));
    raw.write(Buffer.from([5, 1, 0]));
    raw.write(Buffer.from([5, 2, 0, 1, 127, 0, 0, 2, a.port >> 8, a.port & 0xff]));
    const got: Buffer[] = [];
    raw.on("data", (d) => got.push(d));
    await new Promise((r) => raw.once("close", r));
    const bytes = Buffer.concat(got);
    assert.deepEqual([...bytes.subarray(0, 4)], [5, 0, 5, 7]);
    // The relay: a plain TCP port that reaches the node through the proxy.
    const relay = await dialer.address(`node-a:${a.port}`);
    assert.equal(await dialer.address(`node-a:${a.port}`), relay, "one relay per target");
    const [rh, rp] = relay.split(":");
    const s = net.connect(Number(rp), rh);
    await new Promise((r) => s.once("connect", r));
    assert.equal(await roundTrip(s, "via relay"), "a:via relay");
    assert.ok(log.some(([h, r]) => h === "0:0:0:0:0:0:0:1" && r === 8), JSON.stringify(log));
  } finally {
    await dialer.close();
    await socks.close();
    a.close();
  }
});

Deno.test("switch SOCKS5: a taken port moves to the next free one; a fixed port does not", async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  const taken = (blocker.address() as net.AddressInfo).port;
  try {
    const s = await SwitchSocks.start({ subnet: SUBNET, firstPort: taken });
    assert.ok(s.port > taken && s.port <= taken + 100, `port ${s.port}`);
    await s.close();
    await assert.rejects(
      SwitchSocks.start({ subnet: SUBNET, port: taken }),
      /cannot listen on 127\.0\.0\.1:\d+/,
    );
  } finally {
    blocker.close();
  }
});
