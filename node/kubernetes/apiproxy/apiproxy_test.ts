/** The apiproxy with echo servers as apiservers: round-robin, skipping, target changes, waiting. */
import assert from "node:assert/strict";
import { Value } from "../../base/event/value.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { run, Supervisor, untilAborted } from "../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../base/supervisor/testing.ts";
import { apiproxy, parseTargets } from "./apiproxy.ts";

/** A TCP server that greets with its name, then echoes. */
function echoServer(name: string) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const c of l) {
      conns.add(c);
      (async () => {
        await c.write(new TextEncoder().encode(`${name}:`));
        const buf = new Uint8Array(4096);
        for (let n = await c.read(buf); n !== null; n = await c.read(buf)) {
          await c.write(buf.subarray(0, n));
        }
        c.close();
      })().catch(() => {}).finally(() => conns.delete(c));
    }
  })().catch(() => {});
  return {
    addr: `127.0.0.1:${(l.addr as Deno.NetAddr).port}`,
    close() {
      l.close();
      for (const c of conns) c.close();
    },
  };
}

/** An address where nothing listens (bound once, then released). */
function deadAddr(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return `127.0.0.1:${port}`;
}

async function start(targets: Value<string[]>) {
  let port = 0;
  const sup = new Supervisor(new LogTree(), async (ctx) => {
    run(
      ctx,
      "apiproxy",
      apiproxy({ targets, listen: "127.0.0.1:0", waitMs: 300, onListening: (p) => port = p }),
    );
    await untilAborted(ctx);
  });
  await waitUntil(() => sup.state("root.apiproxy") === "HEALTHY", "apiproxy healthy");
  return { port: () => port, stop: () => sup.stop() };
}

/** Connects through the proxy, sends `msg`, half-closes and returns all it got back. */
async function roundTrip(port: number, msg = "ping"): Promise<string> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  await c.write(new TextEncoder().encode(msg));
  await c.closeWrite();
  let out = "";
  const buf = new Uint8Array(4096);
  for (let n = await c.read(buf); n !== null; n = await c.read(buf)) {
    out += new TextDecoder().decode(buf.subarray(0, n));
  }
  c.close();
  return out;
}

Deno.test("connections alternate between targets and carry bytes both ways", async () => {
  const a = echoServer("a"), b = echoServer("b");
  const p = await start(new Value([a.addr, b.addr]));
  try {
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await roundTrip(p.port()));
    assert.deepEqual(got, ["a:ping", "b:ping", "a:ping", "b:ping"]);
  } finally {
    await p.stop();
    a.close();
    b.close();
  }
});

Deno.test("a refusing target is skipped; all refusing closes the client", async () => {
  const a = echoServer("a");
  const targets = new Value([deadAddr(), a.addr, deadAddr()]);
  const p = await start(targets);
  try {
    for (let i = 0; i < 3; i++) assert.equal(await roundTrip(p.port()), "a:ping");
    targets.set([deadAddr()]);
    assert.equal(await roundTrip(p.port()), "");
  } finally {
    await p.stop();
    a.close();
  }
});

Deno.test("target list changes apply to new connections; without targets a connection waits", async () => {
  const a = echoServer("a"), c = echoServer("c");
  const targets = new Value<string[]>([a.addr]);
  const p = await start(targets);
  try {
    assert.equal(await roundTrip(p.port()), "a:ping");
    targets.set([c.addr]);
    assert.equal(await roundTrip(p.port()), "c:ping");
    targets.set([]);
    assert.equal(await roundTrip(p.port()), "", "closed after waiting without a target");
    const waiting = roundTrip(p.port());
    await new Promise((r) => setTimeout(r, 100));
    targets.set([a.addr]);
    assert.equal(await waiting, "a:ping", "served once a target appeared");
  } finally {
    await p.stop();
    a.close();
    c.close();
  }
});

Deno.test("parseTargets keeps valid host:port entries once, in order", () => {
  assert.deepEqual(parseTargets(["10.0.0.1:6443", "bad", "[fd00::1]:6443", "10.0.0.1:6443"]), [
    { host: "10.0.0.1", port: 6443 },
    { host: "fd00::1", port: 6443 },
  ]);
});
