/**
 * The network service against real kernel objects: a throwaway network namespace with a veth
 * pair (subnet 10.1.63.0/24), the launcher's DHCP server (e2e/launch/dhcp.ts, run as a program)
 * on the host end, and {@link configureNetwork} inside the namespace (testdata/run_network.ts
 * under `ip netns exec`). Needs root; skipped otherwise.
 */
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  DeviceSchema,
  Interface_RouteSchema,
  InterfaceSchema,
  NameserverSchema,
  NetSchema,
} from "../../../proto/gen/osbase/net/proto/net_pb.ts";

const NS = `metro-nettest-${Deno.pid}`;
const HOST = `mnth${Deno.pid}`;
const PEER = `mntp${Deno.pid}`;
const MAC = "52:54:00:01:00:02";
const SERVER = new URL("../../../e2e/launch/dhcp.ts", import.meta.url).pathname;
const CLIENT = new URL("./testdata/run_network.ts", import.meta.url).pathname;
const isRoot = Deno.uid() === 0;

async function ip(...args: string[]): Promise<string> {
  const o = await new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).output();
  const err = new TextDecoder().decode(o.stderr);
  if (!o.success) throw new Error(`ip ${args.join(" ")}: ${err.trim()}`);
  return new TextDecoder().decode(o.stdout);
}

/** Namespace + veth: host end `10.1.63.1/24` up, node end `eth0` (down) with the node MAC. */
async function setUp(): Promise<void> {
  await ip("netns", "add", NS);
  await ip("link", "add", HOST, "type", "veth", "peer", "name", PEER, "netns", NS);
  await ip("-n", NS, "link", "set", PEER, "name", "eth0", "address", MAC);
  await ip("addr", "add", "10.1.63.1/24", "dev", HOST);
  await ip("link", "set", HOST, "up");
}

async function tearDown(): Promise<void> {
  await ip("link", "del", HOST).catch(() => {});
  await ip("netns", "del", NS).catch(() => {});
}

/** A child process whose stdout lines are collected. */
class Proc {
  lines: string[] = [];
  readonly child: Deno.ChildProcess;
  readonly #done: Promise<void>;

  constructor(cmd: string, args: string[]) {
    this.child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "inherit", stdin: "null" })
      .spawn();
    const out = this.child.stdout;
    this.#done = (async () => {
      let rest = "";
      for await (const chunk of out.pipeThrough(new TextDecoderStream())) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop()!;
        this.lines.push(...parts);
      }
    })();
  }

  async waitFor(re: RegExp, ms = 30_000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const l = this.lines.find((x) => re.test(x));
      if (l) return l;
      if (Date.now() > end) {
        throw new Error(`timed out waiting for ${re}:\n${this.lines.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    const t = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5000);
    await this.child.status;
    clearTimeout(t);
    await this.#done;
  }
}

function client(resolv: string, staticB64?: string): Proc {
  return new Proc("ip", [
    "netns",
    "exec",
    NS,
    Deno.execPath(),
    "run",
    "-A",
    "--no-prompt",
    CLIENT,
    resolv,
    ...(staticB64 ? [staticB64] : []),
  ]);
}

/**
 * Runs `body` with the namespace set up, the launcher's DHCP server on the host end (reserving
 * 10.1.63.2 for {@link MAC}, DNS 10.1.63.53, `serverArgs` added) and the client in the
 * namespace; everything is torn down afterwards. The server may be stopped by `body`.
 */
async function withDhcp(
  serverArgs: string[],
  body: (
    t: { server: Proc; client: Proc; resolv: string; stopServer(): Promise<void> },
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "metro-nettest-" });
  await setUp();
  let server: Proc | undefined, c: Proc | undefined;
  try {
    server = new Proc(Deno.execPath(), [
      "run",
      "-A",
      "--no-prompt",
      SERVER,
      HOST,
      "10.1.63.0/24",
      `${MAC}=10.1.63.2`,
      "--dns=10.1.63.53",
      ...serverArgs,
    ]);
    await server.waitFor(/^serving on/);
    c = client(`${dir}/resolv.conf`);
    const srv = server;
    await body({
      server: srv,
      client: c,
      resolv: `${dir}/resolv.conf`,
      stopServer: async () => {
        await srv.stop();
        server = undefined;
      },
    });
  } finally {
    await c?.stop();
    await server?.stop();
    await tearDown();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "DHCP in a namespace: lease from the launcher's server, route, resolv.conf, renewals",
  ignore: !isRoot,
  sanitizeResources: false,
  fn: () =>
    withDhcp(["--lease=6"], async ({ server, client: c, resolv, stopServer }) => {
      const carrier = await c.waitFor(/eth0: carrier, starting DHCP/);
      const leased = await c.waitFor(/eth0: leased/);
      assert.match(
        leased,
        /eth0: leased 10\.1\.63\.2\/24 from 10\.1\.63\.1, router 10\.1\.63\.1, dns 10\.1\.63\.53, lease 6s$/,
      );
      const ms = (l: string) => Number(l.split("ms")[0]);
      console.log(
        `time to lease: ${ms(leased) - ms(carrier)} ms after carrier (${
          ms(leased)
        } ms after start)`,
      );
      await c.waitFor(/changed/);
      assert.match(
        await ip("-n", NS, "-4", "-o", "addr", "show", "dev", "eth0"),
        /inet 10\.1\.63\.2\/24 brd 10\.1\.63\.255/,
      );
      assert.match(
        await ip("-n", NS, "route", "show", "default"),
        /default via 10\.1\.63\.1 dev eth0 proto dhcp src 10\.1\.63\.2/,
      );
      assert.match(await ip("-n", NS, "-o", "link", "show", "lo"), /[<,]UP[,>]/);
      assert.equal(await Deno.readTextFile(resolv), "nameserver 10.1.63.53\n");
      // Lease 6 s → T1 3 s: after 8 s at least two renewals were acknowledged, address kept.
      const acks = () => server.lines.filter((l) => l.startsWith(`ACK ${MAC} 10.1.63.2`)).length;
      assert.equal(acks(), 1);
      await new Promise((r) => setTimeout(r, 8000));
      assert.ok(acks() >= 3, server.lines.join("\n"));
      assert.match(
        await ip("-n", NS, "-4", "-o", "addr", "show", "dev", "eth0"),
        /10\.1\.63\.2\/24/,
      );
      assert.equal(c.lines.filter((l) => /leased/.test(l)).length, 1, "renewals are quiet");
      // The server goes away: renewals and rebinding fail, at expiry the address is dropped.
      await stopServer();
      await c.waitFor(/eth0: lost lease of 10\.1\.63\.2: lease expired/, 15_000);
      assert.doesNotMatch(
        await ip("-n", NS, "-4", "-o", "addr", "show", "dev", "eth0"),
        /10\.1\.63\.2/,
      );
      assert.equal(await Deno.readTextFile(resolv), "");
    }),
});

Deno.test({
  name: "DHCP in a namespace: losing the carrier drops the lease, its return leases again",
  ignore: !isRoot,
  sanitizeResources: false,
  fn: () =>
    withDhcp([], async ({ client: c, resolv }) => {
      const addr = () => ip("-n", NS, "-4", "-o", "addr", "show", "dev", "eth0");
      await c.waitFor(/eth0: leased 10\.1\.63\.2\/24/);
      // The host end goes down: the node's eth0 loses its carrier (like a pulled cable).
      await ip("link", "set", HOST, "down");
      await c.waitFor(/eth0: carrier lost, dropped 10\.1\.63\.2$/, 10_000);
      assert.doesNotMatch(await addr(), /10\.1\.63\.2/);
      assert.doesNotMatch(await ip("-n", NS, "route", "show", "default"), /via/);
      assert.equal(await Deno.readTextFile(resolv), "");
      // Carrier back: a new client leases the address again.
      await ip("link", "set", HOST, "up");
      await c.waitFor(/eth0: carrier, starting DHCP/);
      const leases = () => c.lines.filter((l) => /eth0: leased 10\.1\.63\.2\/24/.test(l)).length;
      const end = Date.now() + 15_000;
      while (leases() < 2) {
        assert.ok(Date.now() < end, `no second lease:\n${c.lines.join("\n")}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(await addr(), /inet 10\.1\.63\.2\/24/);
      assert.equal(await Deno.readTextFile(resolv), "nameserver 10.1.63.53\n");
    }),
});

Deno.test({
  name: "static network_config in a namespace: address, default route, DNS over netlink",
  ignore: !isRoot,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "metro-nettest-" });
    await setUp();
    let c: Proc | undefined;
    try {
      const net = create(NetSchema, {
        interface: [create(InterfaceSchema, {
          name: "eth0",
          type: {
            case: "device",
            value: create(DeviceSchema, { hardwareAddress: MAC.toUpperCase() }),
          },
          address: ["10.1.63.2/24", "10.1.63.99"],
          route: [
            create(Interface_RouteSchema, { destination: "0.0.0.0/0", gatewayIp: "10.1.63.1" }),
          ],
        })],
        nameserver: [
          create(NameserverSchema, { ip: "10.1.63.53" }),
          create(NameserverSchema, { ip: "9.9.9.9" }),
        ],
      });
      c = client(`${dir}/resolv.conf`, btoa(String.fromCharCode(...toBinary(NetSchema, net))));
      await c.waitFor(
        /eth0: static 10\.1\.63\.2\/24, 10\.1\.63\.99, routes 0\.0\.0\.0\/0 via 10\.1\.63\.1/,
      );
      await c.waitFor(/changed/);
      const addrs = await ip("-n", NS, "-4", "-o", "addr", "show", "dev", "eth0");
      assert.match(addrs, /inet 10\.1\.63\.2\/24/);
      assert.match(addrs, /inet 10\.1\.63\.99\/32/);
      assert.match(
        await ip("-n", NS, "route", "show", "default"),
        /default via 10\.1\.63\.1 dev eth0 proto static/,
      );
      assert.match(await ip("-n", NS, "-o", "link", "show", "eth0"), /[<,]UP[,>]/);
      // The host reaches the node: the address really works.
      const ping = await new Deno.Command("ping", {
        args: ["-c1", "-W2", "10.1.63.2"],
        stdout: "null",
      }).output();
      assert.ok(ping.success, "ping 10.1.63.2");
      assert.equal(
        await Deno.readTextFile(`${dir}/resolv.conf`),
        "nameserver 10.1.63.53\nnameserver 9.9.9.9\n",
      );
      assert.ok(
        !c.lines.some((l) => /carrier, starting DHCP/.test(l)),
        "no DHCP without ipv4_autoconfig",
      );
    } finally {
      await c?.stop();
      await tearDown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
