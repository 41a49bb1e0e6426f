import assert from "node:assert/strict";
import net from "node:net";
import { filterGoaway, GoawayFilter } from "./goaway_filter.ts";

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function frame(type: number, stream: number, payload: number[]): number[] {
  const n = payload.length;
  return [n >> 16, (n >> 8) & 255, n & 255, type, 0, 0, 0, 0, stream, ...payload];
}

const SETTINGS = frame(0x4, 0, [0, 3, 0, 0, 0, 100]);
const HEADERS = frame(0x1, 1, [1, 2, 3]);
const GOAWAY = frame(0x7, 0, [0, 0, 0, 1, 0, 0, 0, 0]);
const DATA = frame(0x0, 1, [9, 9]);

/** Feeds `bytes` in pieces of `step` and returns what passes. */
function run(bytes: number[], step: number): { out: number[]; dropped: number } {
  const f = new GoawayFilter();
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += step) {
    out.push(...f.push(Uint8Array.from(bytes.slice(i, i + step))));
  }
  return { out, dropped: f.dropped };
}

Deno.test("goaway filter: GOAWAY frames vanish, preface and other frames pass byte-exact, any chunking", () => {
  const input = [...PREFACE, ...SETTINGS, ...HEADERS, ...GOAWAY, ...DATA];
  const want = [...PREFACE, ...SETTINGS, ...HEADERS, ...DATA];
  for (const step of [1, 2, 5, 9, 10, 17, input.length]) {
    const r = run(input, step);
    assert.deepEqual(r.out, want, `chunks of ${step}`);
    assert.equal(r.dropped, 1);
  }
});

Deno.test("goaway filter: a stream without GOAWAY passes unchanged", () => {
  const input = [...PREFACE, ...SETTINGS, ...DATA, ...DATA];
  assert.deepEqual(run(input, 7).out, input);
  assert.equal(run(input, 7).dropped, 0);
});

Deno.test("goaway filter: a chunk with nothing to drop is passed as it is (no copy)", () => {
  const f = new GoawayFilter();
  const chunk = Uint8Array.from([...PREFACE, ...SETTINGS, ...DATA]);
  assert.equal(f.push(chunk), chunk);
  const split = Uint8Array.from(HEADERS);
  assert.equal(f.push(split.subarray(0, 4)).length, 0, "a split header is withheld");
  assert.deepEqual([...f.push(split.subarray(4))], HEADERS);
});

/** A connected TCP pair on 127.0.0.1: `server` is the accepted side. */
async function tcpPair(): Promise<{ client: net.Socket; server: net.Socket; close(): void }> {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => listener.once("connection", r));
  const client = net.connect((listener.address() as net.AddressInfo).port, "127.0.0.1");
  const server = await accepted;
  return {
    client,
    server,
    close() {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}

Deno.test("filterGoaway on a socket: readers get no GOAWAY; one tick's writes go out corked together", async () => {
  const { client, server, close } = await tcpPair();
  try {
    assert.equal(filterGoaway(server), server);
    const want = [...PREFACE, ...SETTINGS, ...HEADERS, ...DATA];
    const got: number[] = [];
    const all = new Promise<void>((r) =>
      server.on("data", (b: Uint8Array) => {
        got.push(...b);
        if (got.length >= want.length) r();
      })
    );
    client.write(Uint8Array.from([...PREFACE, ...SETTINGS, ...GOAWAY.slice(0, 5)]));
    await new Promise((r) => setTimeout(r, 20));
    client.write(Uint8Array.from([...GOAWAY.slice(5), ...HEADERS, ...GOAWAY, ...DATA]));
    await all;
    assert.deepEqual(got, want);

    const echoed: number[] = [];
    const three = new Promise<void>((r) =>
      client.on("data", (b: Uint8Array) => {
        echoed.push(...b);
        if (echoed.length === 3) r();
      })
    );
    server.write(Uint8Array.of(1));
    server.write(Uint8Array.of(2));
    assert.equal(server.writableCorked, 1, "writes of one tick wait for the next tick");
    server.write(Uint8Array.of(3));
    await three;
    assert.equal(server.writableCorked, 0);
    assert.deepEqual(echoed, [1, 2, 3]);
  } finally {
    close();
  }
});
