import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { BATCH_BYTES, frame, writeFramed } from "./framed.ts";
import { bindLoopback } from "../../../proto/testing.ts";

Deno.test("framed: messages become consecutive length-prefixed messages", () => {
  const out = frame([Uint8Array.of(7, 8), new Uint8Array(0), Uint8Array.of(9)]);
  assert.equal(out.length, 1);
  assert.deepEqual([...out[0]], [0, 0, 0, 0, 2, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9]);
});

Deno.test("framed: a batch ends before the message that would overflow it", () => {
  const half = new Uint8Array(BATCH_BYTES / 2).fill(1);
  const big = new Uint8Array(BATCH_BYTES + 1).fill(2);
  const out = frame([half, half, Uint8Array.of(3), big, Uint8Array.of(4)]);
  // half + half + 2 prefixes exceed a batch; the big one is alone; the last starts a new batch.
  assert.deepEqual(out.map((b) => b.length), [
    5 + half.length,
    5 + half.length + 5 + 1,
    5 + big.length,
    5 + 1,
  ]);
});

const bytes = (b: Buffer) => b;
const DEF: grpc.ServiceDefinition = {
  list: {
    path: "/test.Framed/List",
    requestStream: false,
    responseStream: true,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
};

/** Distinct messages of varying length (0 to `maxLen` bytes). */
function messages(n: number, maxLen: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => {
    const m = new Uint8Array((i * 37) % (maxLen + 1));
    if (m.length >= 4) new DataView(m.buffer).setUint32(0, i, true);
    return m;
  });
}

/** Serves `msgs` framed and written; what a grpc-js client receives, and the server's writes. */
async function roundTrip(
  msgs: Uint8Array[],
  opts: grpc.ServerOptions = {},
): Promise<{ got: Uint8Array[]; writes: number }> {
  const server = new grpc.Server(opts);
  let writes = -1;
  server.addService(DEF, {
    list: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      writeFramed(call, frame(msgs)).then((n) => {
        writes = n;
        call.end();
      });
    },
  });
  const port = await bindLoopback(server);
  const Client = grpc.makeGenericClientConstructor(DEF, "Framed");
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const got: Uint8Array[] = [];
    const stream = (client as unknown as {
      list(req: Buffer): grpc.ClientReadableStream<Buffer>;
    }).list(Buffer.alloc(0));
    for await (const m of stream) got.push(new Uint8Array(m));
    return { got, writes };
  } finally {
    client.close();
    server.forceShutdown();
  }
}

Deno.test("framed: a client receives every message byte for byte, over many batches", async () => {
  const msgs = messages(3000, 300); // ≈ 450 KiB: several batches
  assert.ok(msgs.reduce((n, m) => n + m.length, 0) > 4 * BATCH_BYTES);
  const r = await roundTrip(msgs);
  assert.deepEqual(r.got, msgs);
  assert.ok(r.writes >= 5 && r.writes <= 10, `${r.writes} writes for 3000 messages`);
});

Deno.test("framed: a message larger than a batch and an interceptor in front still arrive", async () => {
  const big = new Uint8Array(BATCH_BYTES + 1000).fill(5);
  const msgs = [Uint8Array.of(1), big, Uint8Array.of(2)];
  const passThrough: grpc.ServerInterceptor = (_m, call) => new grpc.ServerInterceptingCall(call);
  const r = await roundTrip(msgs, { interceptors: [passThrough] });
  assert.deepEqual(r.got, msgs);
  assert.equal(r.writes, 3, "a batch ends before the message that would overflow it");
});

Deno.test("framed: with a send-size limit messages are written one by one, unchanged", async () => {
  const msgs = messages(500, 200);
  const r = await roundTrip(msgs, { "grpc.max_send_message_length": 1 << 20 });
  assert.deepEqual(r.got, msgs);
  assert.equal(r.writes, 500);
});

Deno.test("framed: nothing to write ends the stream empty", async () => {
  assert.deepEqual(await roundTrip([]), { got: [], writes: 0 });
});
