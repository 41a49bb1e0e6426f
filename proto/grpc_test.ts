/**
 * A real grpc-js server and client over loopback TCP, wired only through proto/grpc.ts: unary,
 * server-streaming (including cancellation), client-streaming and bidi calls of real services,
 * error statuses, and a garbage request that gets an error status while the server keeps serving.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import {
  CuratorLocal,
  type GetCurrentLeaderResponse,
} from "./gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { NodeDebugService } from "./gen/metropolis/proto/api/debug_pb.ts";
import { AAA } from "./gen/metropolis/proto/api/aaa_pb.ts";
import { addService, makeClient, serviceDefinition, SERVICES } from "./grpc.ts";
import { bindLoopback } from "./testing.ts";

const CA_DER = Uint8Array.from({ length: 300 }, (_, i) => (i * 13) & 0xff);
const CA_PATH = "/metropolis.node.core.curator.proto.api.CuratorLocal/GetCACertificate";

/** State the in-test handlers record, so the test can see what the server received. */
interface Seen {
  caCalls: number;
  leaderCancelled: Promise<void>;
  imageBytes: number;
  imageChunks: number;
}

function unimplemented(_call: unknown, cb: grpc.sendUnaryData<never>) {
  cb({ code: grpc.status.UNIMPLEMENTED, details: "not in this test" });
}

async function startServer(): Promise<{ server: grpc.Server; port: number; seen: Seen }> {
  let markCancelled!: () => void;
  const seen: Seen = {
    caCalls: 0,
    leaderCancelled: new Promise((r) => markCancelled = r),
    imageBytes: 0,
    imageChunks: 0,
  };
  const server = new grpc.Server();
  addService(server, CuratorLocal, {
    getCACertificate(_call, cb) {
      seen.caCalls++;
      cb(null, { identityCaCertificate: CA_DER });
    },
    getCurrentLeader(call) {
      const base = { leaderNodeId: "metropolis-aa", leaderPort: 7835, thisNodeId: "metropolis-bb" };
      call.write({ ...base, leaderHost: "10.8.0.2" });
      call.write({ ...base, leaderHost: "10.8.0.3" });
      // "stay-open" in the metadata mimics the real server: the stream ends only on cancel.
      if (call.metadata.get("x-stay-open").length > 0) {
        call.on("cancelled", () => markCancelled());
        return;
      }
      call.end();
    },
  });
  addService(server, NodeDebugService, {
    getDebugKubeconfig: unimplemented,
    logs(call) {
      call.emit("error", { code: grpc.status.PERMISSION_DENIED, details: "no logs for you" });
    },
    trace(call) {
      call.end();
    },
    loadImage(call, cb) {
      call.on("data", (part) => {
        seen.imageChunks++;
        seen.imageBytes += part.dataPart.length;
      });
      call.on("end", () => cb(null, {}));
    },
  });
  addService(server, AAA, {
    escrow(call) {
      call.on("data", (req) => {
        const name = req.parameters?.requestedIdentityName ?? "";
        call.write({ emittedCertificate: new TextEncoder().encode(`cert:${name}`) });
      });
      call.on("end", () => call.end());
    },
  });
  const port = await bindLoopback(server);
  return { server, port, seen };
}

function stopServer(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => server.tryShutdown(() => resolve()));
}

Deno.test("grpc.ts: service definitions carry wire paths and streaming flags", () => {
  const def = serviceDefinition(CuratorLocal);
  assert.deepStrictEqual(Object.keys(def).sort(), ["getCACertificate", "getCurrentLeader"]);
  assert.equal(def.getCACertificate.path, CA_PATH);
  assert.equal(def.getCACertificate.requestStream, false);
  assert.equal(def.getCACertificate.responseStream, false);
  assert.equal(def.getCurrentLeader.responseStream, true);
  const dbg = serviceDefinition(NodeDebugService);
  assert.equal(dbg.loadImage.requestStream, true);
  assert.equal(dbg.loadImage.responseStream, false);
  const aaa = serviceDefinition(AAA);
  assert.equal(aaa.escrow.requestStream && aaa.escrow.responseStream, true);
  assert.equal(SERVICES.get("metropolis.proto.api.AAA"), AAA);
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => addService(new grpc.Server(), CuratorLocal, { getCACertificate: () => {} } as any),
    /no handler for getCurrentLeader/,
  );
});

Deno.test("grpc.ts: real server and client over loopback", async (t) => {
  const { server, port, seen } = await startServer();
  const addr = `127.0.0.1:${port}`;
  const creds = grpc.credentials.createInsecure();
  const local = makeClient(CuratorLocal, addr, creds);
  const debug = makeClient(NodeDebugService, addr, creds);
  const aaa = makeClient(AAA, addr, creds);
  try {
    await t.step("unary: GetCACertificate", async () => {
      const res = await local.getCACertificate({});
      assert.equal(
        res.$typeName,
        "metropolis.node.core.curator.proto.api.GetCACertificateResponse",
      );
      assert.deepStrictEqual(res.identityCaCertificate, CA_DER);
      assert.equal(Object.getPrototypeOf(res.identityCaCertificate), Uint8Array.prototype);
    });

    await t.step("server-streaming: GetCurrentLeader yields both responses then ends", async () => {
      const got: GetCurrentLeaderResponse[] = [];
      for await (const r of local.getCurrentLeader({})) got.push(r);
      assert.deepStrictEqual(got.map((r) => r.leaderHost), ["10.8.0.2", "10.8.0.3"]);
      assert.equal(got[0].leaderPort, 7835);
      assert.equal(got[0].thisNodeId, "metropolis-bb");
    });

    await t.step("server-streaming: an AbortSignal cancels an open stream", async () => {
      const ac = new AbortController();
      const md = new grpc.Metadata();
      md.set("x-stay-open", "1");
      const stream = local.getCurrentLeader({}, { signal: ac.signal, metadata: md });
      const got: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const r of stream) {
            got.push(r.leaderHost);
            if (got.length === 2) ac.abort();
          }
        })(),
        (e: grpc.ServiceError) => e.code === grpc.status.CANCELLED,
      );
      assert.deepStrictEqual(got, ["10.8.0.2", "10.8.0.3"]);
      await seen.leaderCancelled;
    });

    await t.step("error status from a handler reaches the client", async () => {
      await assert.rejects(
        debug.getDebugKubeconfig({ id: "x" }),
        (e: grpc.ServiceError) => e.code === grpc.status.UNIMPLEMENTED,
      );
      await assert.rejects(
        Array.fromAsync(debug.logs({ dn: "root" })),
        (e: grpc.ServiceError) =>
          e.code === grpc.status.PERMISSION_DENIED && e.details === "no logs for you",
      );
    });

    await t.step("client-streaming: LoadImage uploads chunks with back-pressure", async () => {
      async function* chunks() {
        yield { dataPart: new Uint8Array(10) };
        yield { dataPart: new Uint8Array(2 << 20) };
        yield { dataPart: new Uint8Array(5) };
      }
      const res = await debug.loadImage(chunks());
      assert.equal(res.$typeName, "metropolis.proto.api.LoadImageResponse");
      assert.equal(seen.imageChunks, 3);
      assert.equal(seen.imageBytes, 10 + (2 << 20) + 5);
    });

    await t.step("bidi: Escrow answers each request on the same stream", async () => {
      const call = aaa.escrow();
      const answers: string[] = [];
      const reader = (async () => {
        for await (const r of call) answers.push(new TextDecoder().decode(r.emittedCertificate));
      })();
      call.write({ parameters: { requestedIdentityName: "owner", publicKey: new Uint8Array(32) } });
      call.write({ parameters: { requestedIdentityName: "second" } });
      call.end();
      await reader;
      assert.deepStrictEqual(answers, ["cert:owner", "cert:second"]);
    });

    await t.step(
      "garbage request: INTERNAL status, handler not run, server keeps serving",
      async () => {
        const raw = new grpc.Client(addr, creds);
        try {
          const before = seen.caCalls;
          const err = await new Promise<grpc.ServiceError | null>((resolve) =>
            raw.makeUnaryRequest(
              CA_PATH,
              (b: Buffer) => b,
              (b: Buffer) => b,
              // Field 1 with wire type 7: not a valid protobuf encoding.
              Buffer.from([0x0f, 0x01, 0x02]),
              (e) => resolve(e),
            )
          );
          assert.ok(err, "garbage request must fail");
          assert.equal(err.code, grpc.status.INTERNAL, err.message);
          assert.equal(seen.caCalls, before, "handler must not see undecodable requests");
          const res = await local.getCACertificate({});
          assert.deepStrictEqual(res.identityCaCertificate, CA_DER);
          assert.equal(seen.caCalls, before + 1);
        } finally {
          raw.close();
        }
      },
    );

    await t.step("unknown method: UNIMPLEMENTED", async () => {
      const raw = new grpc.Client(addr, creds);
      try {
        const err = await new Promise<grpc.ServiceError | null>((resolve) =>
          raw.makeUnaryRequest(
            "/metropolis.proto.api.Management/GetRegisterTicket",
            (b: Buffer) => b,
            (b: Buffer) => b,
            Buffer.alloc(0),
            (e) => resolve(e),
          )
        );
        assert.equal(err?.code, grpc.status.UNIMPLEMENTED);
      } finally {
        raw.close();
      }
    });
  } finally {
    local.close();
    debug.close();
    aaa.close();
    await stopServer(server);
  }
});
