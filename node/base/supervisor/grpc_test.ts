import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { LogTree } from "../logtree/logtree.ts";
import { grpcServer } from "./grpc.ts";
import { run, signal, Supervisor } from "./supervisor.ts";
import { waitUntil } from "./testing.ts";

// A hand-written unary method with JSON payloads, so the test needs no generated code.
const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString()),
};
const SERVICE: grpc.ServiceDefinition = {
  Sleep: {
    path: "/test.Svc/Sleep",
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

async function serveAndAbortDuringCall(graceful: boolean) {
  const dir = await Deno.makeTempDir({ prefix: "supervisor-grpc-" });
  const address = `unix:${dir}/s.sock`;
  const server = new grpc.Server();
  let started = false;
  server.addService(SERVICE, {
    Sleep: (
      call: grpc.ServerUnaryCall<{ ms: number }, unknown>,
      cb: grpc.sendUnaryData<unknown>,
    ) => {
      started = true;
      setTimeout(() => cb(null, { slept: call.request.ms }), call.request.ms);
    },
  });
  const tree = new LogTree();
  const s = new Supervisor(tree, async (ctx) => {
    run(
      ctx,
      "grpc",
      grpcServer(
        server,
        { address, credentials: grpc.ServerCredentials.createInsecure() },
        graceful,
      ),
    );
    signal(ctx, "healthy");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  }, { onRootExit: () => {} });
  await waitUntil(() => s.state("root.grpc") === "HEALTHY", "HEALTHY");
  const Client = grpc.makeGenericClientConstructor(SERVICE, "Svc");
  const client = new Client(address, grpc.credentials.createInsecure());
  const call = new Promise<{ err: grpc.ServiceError | null; res: unknown }>((resolve) =>
    // deno-lint-ignore no-explicit-any
    (client as any).Sleep({ ms: 300 }, (err: grpc.ServiceError | null, res: unknown) =>
      resolve({ err, res }))
  );
  await waitUntil(() => started, "call started");
  await s.stop();
  const result = await call;
  client.close();
  await Deno.remove(dir, { recursive: true });
  return { result, tree };
}

Deno.test("§4.5 grpcServer: graceful abort lets the running call finish", async () => {
  const { result, tree } = await serveAndAbortDuringCall(true);
  assert.equal(result.err, null);
  assert.deepEqual(result.res, { slept: 300 });
  const lines = tree.read("root.grpc", { backlog: "all" }).backlog.map((e) => e.leveled!.lines[0]);
  assert.equal(lines.at(-1), "gRPC server stopped (graceful)");
});

Deno.test("§4.5 grpcServer: immediate abort cancels the running call", async () => {
  const { result } = await serveAndAbortDuringCall(false);
  assert.ok(result.err, "call failed");
  assert.ok(
    [grpc.status.CANCELLED, grpc.status.UNAVAILABLE, grpc.status.INTERNAL].includes(
      result.err.code,
    ),
    `code ${result.err.code}`,
  );
});
