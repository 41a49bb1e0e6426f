/**
 * What an unauthenticated client can hold on an {@link RpcServer}: real TLS and grpc-js on loopback, short limits injected through `RpcServerOptions.limits`, and
 * a raw HTTP/2 client ({@link RawH2}) that ignores the server's SETTINGS like an attacker would.
 */
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { testCA, testNodeCert } from "../identity/testing.ts";
import { type ConnectionLimits, dial, RpcServer } from "./mod.ts";
import { RawH2, SETTINGS_HEADER_TABLE_SIZE, SETTINGS_MAX_CONCURRENT_STREAMS } from "./rawh2.ts";

const raw = (b: Buffer) => b;
function method(name: string, responseStream: boolean) {
  return {
    path: `/test.Limits/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  };
}
const DEF: grpc.ServiceDefinition = { hang: method("Hang", true) };
const HANG = "/test.Limits/Hang";

// deno-lint-ignore no-explicit-any
type Any = any;

/** A server with a streaming method that never ends. */
async function withServer(limits: Partial<ConnectionLimits>, fn: (port: number) => Promise<void>) {
  const srv = await testNodeCert(testCA());
  const server = new RpcServer({
    certificate: srv.certificate,
    privateKey: srv.privateKey,
    limits,
  });
  server.grpc.addService(DEF, { hang: (call: Any) => call.write(Buffer.from("started")) });
  const port = await server.listen(0, "127.0.0.1");
  try {
    await fn(port);
  } finally {
    await server.shutdown(false);
  }
}

/** Milliseconds from now until `closed` resolves, or undefined when not within `withinMs`. */
async function closesWithin(closed: Promise<unknown>, withinMs: number) {
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([
    closed.then(() => performance.now() - t0),
    new Promise<undefined>((res) => timer = setTimeout(() => res(undefined), withinMs)),
  ]);
  clearTimeout(timer);
  return r;
}

const tcpClosed = (s: net.Socket) => new Promise<void>((r) => s.once("close", () => r()));

Deno.test("a connection that never completes the TLS handshake is closed after the timeout", async () => {
  await withServer({ handshakeTimeoutMs: 300 }, async (port) => {
    // Bare TCP, and a partial handshake (a truncated ClientHello record).
    const bare = net.connect(port, "127.0.0.1");
    const partial = net.connect(
      port,
      "127.0.0.1",
      () => partial.write(Buffer.from([0x16, 3, 1, 2, 0, 1])),
    );
    bare.on("error", () => {});
    partial.on("error", () => {});
    const [a, b] = await Promise.all([
      closesWithin(tcpClosed(bare), 3000),
      closesWithin(tcpClosed(partial), 3000),
    ]);
    assert.ok(a !== undefined && a >= 250, `bare TCP closed after ${a} ms`);
    assert.ok(b !== undefined && b >= 250, `partial handshake closed after ${b} ms`);
  });
});

Deno.test("a connection without streams is closed after the idle timeout; one with a stream is not", async () => {
  await withServer({ idleTimeoutMs: 400 }, async (port) => {
    const idle = await RawH2.connect({ host: "127.0.0.1", port });
    // TLS done, but not even the HTTP/2 preface follows.
    const silent = await new Promise<tls.TLSSocket>((resolve) => {
      const s = tls.connect({
        host: "127.0.0.1",
        port,
        rejectUnauthorized: false,
        ALPNProtocols: ["h2"],
      }, () => resolve(s));
    });
    silent.resume(); // reads, so that the close is seen
    const silentClosed = tcpClosed(silent);
    const busy = await RawH2.connect({ host: "127.0.0.1", port });
    busy.call(HANG);
    try {
      const [a, b, c] = await Promise.all([
        closesWithin(idle.closed, 3000),
        closesWithin(silentClosed, 3000),
        closesWithin(busy.closed, 1500),
      ]);
      assert.ok(a !== undefined, "idle HTTP/2 connection stays open");
      // Dropped, never GOAWAY: Deno clients can crash on one (denoland/deno#36788).
      assert.equal(idle.goaway, undefined, "closed without GOAWAY");
      assert.ok(b !== undefined, "silent TLS connection stays open");
      assert.equal(c, undefined, "connection with a stream closed");
    } finally {
      idle.close();
      silent.destroy();
      busy.close();
    }
  });
});

Deno.test("the server advertises a stream limit; the N+1-th concurrent stream is refused", async () => {
  const N = 4;
  await withServer({ maxStreamsPerConnection: N }, async (port) => {
    const h = await RawH2.connect({ host: "127.0.0.1", port });
    try {
      await h.serverSettings();
      assert.equal(h.settings.get(SETTINGS_MAX_CONCURRENT_STREAMS), N);
      const ids = Array.from({ length: N }, () => h.call(HANG));
      await waitFor(() => ids.every((id) => h.answered.has(id)), "first N streams answered");
      const extra = h.call(HANG);
      await waitFor(() => h.goaway !== undefined || h.resets.has(extra), "N+1-th stream refused");
      assert.ok(!h.answered.has(extra), "N+1-th stream reached a handler");
      assert.ok(await closesWithin(h.closed, 3000) !== undefined || h.resets.has(extra));
    } finally {
      h.close();
    }
  });
});

Deno.test("the server keeps no HPACK table per connection, and requests still work", async () => {
  await withServer({}, async (port) => {
    const h = await RawH2.connect({ host: "127.0.0.1", port });
    try {
      await h.serverSettings();
      assert.equal(h.settings.get(SETTINGS_HEADER_TABLE_SIZE), 0);
      const ids = [h.call(HANG), h.call(HANG)];
      await waitFor(() => ids.every((id) => h.answered.has(id)), "both streams answered");
    } finally {
      h.close();
    }
  });
});

Deno.test("connections over the budget are closed at once", async () => {
  await withServer({ maxConnections: 2 }, async (port) => {
    const a = await RawH2.connect({ host: "127.0.0.1", port });
    const b = await RawH2.connect({ host: "127.0.0.1", port });
    const c = net.connect(port, "127.0.0.1");
    c.on("error", () => {});
    try {
      assert.ok(await closesWithin(tcpClosed(c), 2000) !== undefined, "third connection kept");
      a.close();
      await a.closed;
      await new Promise((r) => setTimeout(r, 50));
      const d = await RawH2.connect({ host: "127.0.0.1", port });
      assert.equal(await closesWithin(d.closed, 300), undefined, "budget not released on close");
      d.close();
    } finally {
      a.close();
      b.close();
      c.destroy();
    }
  });
});

Deno.test("calls over the server-wide budget are RESOURCE_EXHAUSTED, and freed slots are reused", async () => {
  await withServer({ maxCalls: 3 }, async (port) => {
    const c = await dial(`127.0.0.1:${port}`, {});
    try {
      const streams = Array.from({ length: 3 }, () => hang(c));
      await Promise.all(streams.map((s) => s.started));
      const over = hang(c);
      const st = await over.ended;
      assert.equal(st.code, grpc.status.RESOURCE_EXHAUSTED, st.details);
      streams[0].call.cancel();
      await streams[0].ended;
      await new Promise((r) => setTimeout(r, 50));
      const again = hang(c);
      await again.started;
      again.call.cancel();
      for (const s of streams) s.call.cancel();
    } finally {
      c.close();
    }
  });
});

// ---- helpers ----

function hang(c: grpc.Client) {
  const call = c.makeServerStreamRequest(HANG, raw, raw, Buffer.alloc(0));
  const started = new Promise<void>((r) => call.once("data", () => r()));
  const ended = new Promise<grpc.StatusObject>((r) => {
    call.on("error", () => {});
    call.once("status", r);
  });
  return { call, started, ended };
}

async function waitFor(cond: () => boolean, what: string, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
