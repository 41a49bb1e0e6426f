/**
 * Connection failures of metroctl (issue #12): what cannot be reached is reported at once or in
 * a few seconds, naming the endpoint, the proxy, or the missing credentials.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { Socks5Server } from "../../node/base/socks/server.ts";
import { Context } from "./context.ts";
import { ATTEMPT_MS, clusterCA, CONNECT_TIMEOUT_MS, connectCluster } from "./dial.ts";
import { startTestCurator } from "../testing.ts";
import { CliError } from "./errors.ts";

/** A local port nobody listens on: bound, noted, closed. */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function context(flags: Record<string, string | string[] | boolean>): Context {
  return new Context([], [], flags, new AbortController().signal);
}

/** Runs `f`, expecting a CliError matching `match`; returns how long it took in ms. */
async function fails(f: () => Promise<unknown>, match: RegExp): Promise<number> {
  const start = performance.now();
  await assert.rejects(f(), (e) => {
    assert.ok(e instanceof CliError, `expected CliError, got ${e}`);
    assert.match(e.message, match);
    return true;
  });
  return performance.now() - start;
}

async function withConfigDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "metroctl-dial-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("dial: a refused endpoint is reported at once, naming it", async () => {
  await withConfigDir(async (config) => {
    const seed = `127.0.0.1:${closedPort()}`;
    const ms = await fails(
      () => clusterCA(context({ endpoints: [seed], config })),
      new RegExp(`^could not reach any cluster endpoint: ${seed}: connection refused$`),
    );
    assert.ok(ms < 1000, `reported after ${ms.toFixed(0)} ms`);
  });
});

Deno.test("dial: every endpoint is named with its own cause", async () => {
  await withConfigDir(async (config) => {
    const a = `127.0.0.1:${closedPort()}`;
    const b = `127.0.0.1:${closedPort()}`;
    const ms = await fails(
      () => clusterCA(context({ endpoints: [a, "not an endpoint:x", b], config })),
      new RegExp(
        `^could not reach any cluster endpoint: ${a}: connection refused; ` +
          `\\[not an endpoint:x\\]:\\d+: .+; ${b}: connection refused$`,
      ),
    );
    assert.ok(ms < 1000, `reported after ${ms.toFixed(0)} ms`);
  });
});

Deno.test("dial: a host that accepts but never answers is given up once a doubled attempt would not fit", async () => {
  const held = new Set<net.Socket>();
  const silent = net.createServer((s) => held.add(s)); // accepts, never speaks TLS
  const port = await new Promise<number>((r) =>
    silent.listen(0, "127.0.0.1", () => r((silent.address() as net.AddressInfo).port))
  );
  try {
    await withConfigDir(async (config) => {
      const seed = `127.0.0.1:${port}`;
      const ms = await fails(
        () => clusterCA(context({ endpoints: [seed], config })),
        new RegExp(`^could not reach any cluster endpoint: ${seed}: no answer within 8 s$`),
      );
      // 4 s, then 8 s; 16 s more would end past the 20 s connect deadline.
      assert.ok(
        ms > 3 * ATTEMPT_MS && ms < CONNECT_TIMEOUT_MS,
        `reported after ${ms.toFixed(0)} ms`,
      );
    });
  } finally {
    for (const s of held) s.destroy();
    await new Promise((r) => silent.close(r));
  }
});

Deno.test({
  name: "dial: a server slower than the first attempt (5 s to start its TLS handshake) is reached",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cur = await startTestCurator();
    const [host, port] = [
      cur.target.slice(0, cur.target.lastIndexOf(":")),
      cur.target.split(":").pop(),
    ];
    // A forwarder that sits on each connection for 5 s before passing it on, like a node too
    // loaded to answer the ClientHello sooner.
    const socks = new Set<net.Socket>();
    const slow = net.createServer((client) => {
      socks.add(client);
      client.pause();
      setTimeout(() => {
        const up = net.connect({ host, port: Number(port) }, () => {
          client.pipe(up).pipe(client);
          client.resume();
        });
        socks.add(up);
        up.on("error", () => client.destroy());
        client.on("error", () => up.destroy());
      }, 5_000);
    });
    const slowPort = await new Promise<number>((r) =>
      slow.listen(0, "127.0.0.1", () => r((slow.address() as net.AddressInfo).port))
    );
    try {
      await withConfigDir(async (config) => {
        const start = performance.now();
        const ca = await clusterCA(context({
          endpoints: [`127.0.0.1:${slowPort}`],
          config,
          "insecure-accept-and-persist-first-encountered-ca": true,
        }));
        assert.deepEqual(ca, cur.caCertificate);
        assert.ok(performance.now() - start > ATTEMPT_MS, "the first attempt ran out");
      });
    } finally {
      for (const s of socks) s.destroy();
      await new Promise((r) => slow.close(r));
      await cur.stop();
    }
  },
});

Deno.test("dial: a dead --proxy is named", async () => {
  await withConfigDir(async (config) => {
    const proxy = `127.0.0.1:${closedPort()}`;
    const seed = "10.0.0.1:7835";
    const ms = await fails(
      () => clusterCA(context({ endpoints: [seed], config, proxy })),
      new RegExp(
        `^could not reach any cluster endpoint via proxy ${proxy}: ${seed}: ` +
          `proxy ${proxy}: connection refused$`,
      ),
    );
    assert.ok(ms < 1000, `reported after ${ms.toFixed(0)} ms`);
  });
});

Deno.test("dial: a proxy that cannot reach the endpoint says so", async () => {
  const socks = new Socks5Server();
  const proxy = `127.0.0.1:${await socks.listen(0)}`;
  try {
    await withConfigDir(async (config) => {
      const seed = `127.0.0.1:${closedPort()}`;
      const ms = await fails(
        () => clusterCA(context({ endpoints: [seed], config, proxy })),
        new RegExp(
          `^could not reach any cluster endpoint via proxy ${proxy}: ${seed}: ` +
            `proxy ${proxy} could not connect: connection refused$`,
        ),
      );
      assert.ok(ms < 1000, `reported after ${ms.toFixed(0)} ms`);
    });
  } finally {
    await socks.close();
  }
});

Deno.test("dial: a missing or empty config dir asks for takeownership before dialling", async () => {
  await withConfigDir(async (tmp) => {
    const endpoints = [`127.0.0.1:${closedPort()}`];
    for (const config of [`${tmp}/missing`, tmp]) {
      const ms = await fails(
        () => connectCluster(context({ endpoints, config })),
        new RegExp(
          `^no owner credentials in ${config}: run 'metroctl cluster takeownership' first$`,
        ),
      );
      assert.ok(ms < 500, `reported after ${ms.toFixed(0)} ms`);
    }
  });
});
