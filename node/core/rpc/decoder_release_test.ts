import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { StreamDecoder } from "@grpc/grpc-js/build/src/stream-decoder.js";
import { type DecoderFields, installDecoderRelease } from "./decoder_release.ts";
import { frame } from "./framed.ts";
import { bindLoopback } from "../../../proto/testing.ts";

/** `messages` as consecutive gRPC length-prefixed messages in one buffer. */
function framed(...messages: number[][]): Buffer {
  return Buffer.concat(frame(messages.map((m) => Uint8Array.from(m))));
}

Deno.test("installing twice wraps the decoder once", () => {
  installDecoderRelease();
  assert.equal(installDecoderRelease(), false);
});

Deno.test("a chunk that ends between messages is not kept by the decoder", () => {
  installDecoderRelease();
  const d = new StreamDecoder(-1);
  // A chunk with memory of its own, as a stream's incoming DATA chunks have.
  const bytes = framed([], [1, 2, 3]);
  const chunk = Buffer.from(new Uint8Array(bytes).buffer);
  const out = d.write(chunk);
  assert.deepEqual(out.map((m) => [...m]), [[...framed([])], [...framed([1, 2, 3])]]);
  const f = d as unknown as DecoderFields;
  assert.equal(f.readState, 0);
  assert(f.readCompressFlag.buffer !== chunk.buffer, "compressed flag still a slice of the chunk");
  assert.equal(f.readPartialMessage.length, 0);
  for (const m of out) assert(m.buffer !== chunk.buffer, "message shares the chunk's memory");
});

Deno.test("messages split across chunks decode as before", () => {
  installDecoderRelease();
  const d = new StreamDecoder(-1);
  const all = framed([9], [], [4, 5, 6, 7], [8, 8]);
  const got: number[][] = [];
  // Cut everywhere: inside the flag, the size, the payload and between messages.
  for (const [a, b] of [[0, 3], [3, 6], [6, 12], [12, 13], [13, 17], [17, all.length]]) {
    for (const m of d.write(all.subarray(a, b))) got.push([...m]);
  }
  assert.deepEqual(
    got,
    [framed([9]), framed([]), framed([4, 5, 6, 7]), framed([8, 8])].map((f) => [...f]),
  );
});

Deno.test("a message larger than the limit is still refused", () => {
  installDecoderRelease();
  const d = new StreamDecoder(2);
  let err = "";
  try {
    d.write(framed([1, 2, 3]));
  } catch (e) {
    err = (e as Error).message;
  }
  assert(err.startsWith("Received message larger than max"), err);
});

Deno.test("grpc-js's calls decode through the wrapped decoder", async () => {
  installDecoderRelease();
  const proto = StreamDecoder.prototype as unknown as { write: (d: Buffer) => Buffer[] };
  const wrapped = proto.write;
  let writes = 0;
  proto.write = function (this: unknown, d: Buffer) {
    writes++;
    return wrapped.call(this, d);
  };
  const id = (b: Buffer) => b;
  const def = {
    echo: {
      path: "/t.T/Echo",
      requestStream: false,
      responseStream: false,
      requestSerialize: id,
      requestDeserialize: id,
      responseSerialize: id,
      responseDeserialize: id,
    },
  };
  const server = new grpc.Server();
  server.addService(def, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb(null, call.request),
  });
  try {
    const port = await bindLoopback(server);
    const Client = grpc.makeGenericClientConstructor(def, "T");
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const reply = await new Promise<Buffer>((res, rej) =>
        // deno-lint-ignore no-explicit-any
        (client as any).echo(
          Buffer.from([7, 7]),
          (e: Error | null, r: Buffer) => e ? rej(e) : res(r),
        )
      );
      assert.deepEqual([...reply], [7, 7]);
    } finally {
      client.close();
    }
    // One request decoded by the server, one response by the client.
    assert(writes >= 2, `the wrapped decoder saw ${writes} writes`);
  } finally {
    proto.write = wrapped;
    await new Promise<void>((r) => server.tryShutdown(() => r()));
  }
});
