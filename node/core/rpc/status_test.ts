/**
 * What clients see of bad input on an {@link RpcServer}: requests that do not decode strictly are
 * INVALID_ARGUMENT before any handler runs, and echoed input is cut in status messages
 * ({@link boundDetails}).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { makeClient, serviceDefinition } from "../../../proto/grpc.ts";
import {
  NodeManagement,
  RebootRequest_Type,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { testCA, testNodeCert } from "../identity/testing.ts";
import { connectionParams, dial, RpcError, RpcServer } from "./mod.ts";
import { boundDetails, MAX_DETAILS_BYTES, MAX_ECHO_CHARS } from "./status.ts";

const raw = (b: Buffer) => b;
const LOOKUP: grpc.ServiceDefinition = {
  lookup: {
    path: "/test.Status/Lookup",
    requestStream: false,
    responseStream: false,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  },
};

// deno-lint-ignore no-explicit-any
type Any = any;

/** A server with NodeManagement.Reboot (recording requests) and a lookup echoing its input. */
async function withServer(fn: (port: number, reboots: RebootRequest_Type[]) => Promise<void>) {
  const srv = await testNodeCert(testCA());
  const server = new RpcServer({ certificate: srv.certificate, privateKey: srv.privateKey });
  const reboots: RebootRequest_Type[] = [];
  server.grpc.addService(LOOKUP, {
    lookup: (call: Any, cb: Any) =>
      cb(new RpcError(grpc.status.NOT_FOUND, `node ${call.request.toString()} not found`)),
  });
  server.grpc.addService(serviceDefinition(NodeManagement), {
    reboot: (call: Any, cb: Any) => {
      reboots.push(call.request.type);
      cb(null, {});
    },
  });
  const port = await server.listen(0, "127.0.0.1");
  try {
    await fn(port, reboots);
  } finally {
    await server.shutdown(false);
  }
}

Deno.test("a field with the wrong wire type is INVALID_ARGUMENT, never decoded", async () => {
  await withServer(async (port, reboots) => {
    const c = await dial(`127.0.0.1:${port}`, {});
    const p = await connectionParams(`127.0.0.1:${port}`, {});
    const typed = makeClient(NodeManagement, p.address, p.credentials, p.options);
    try {
      // Tag 0x0b: field 1 (type) with wire type 3 (start group); protobuf-es alone reads type=11.
      const st = await unaryRaw(c, "/metropolis.proto.api.NodeManagement/Reboot", [0x0b, 0x0b]);
      assert.equal(st.code, grpc.status.INVALID_ARGUMENT, st.details);
      assert.match(st.details, /RebootRequest\.type \(1\) has wire type 3/);
      assert.deepEqual(reboots, []);
      // A well-formed request still reaches the handler.
      await typed.reboot({ type: RebootRequest_Type.FIRMWARE });
      assert.deepEqual(reboots, [RebootRequest_Type.FIRMWARE]);
    } finally {
      c.close();
      typed.close();
    }
  });
});

Deno.test("an echoed 100,000-character input is cut in the status message", async () => {
  await withServer(async (port) => {
    const c = await dial(`127.0.0.1:${port}`, {});
    try {
      const id = "n".repeat(100_000);
      const st = await unaryRaw(c, "/test.Status/Lookup", [...Buffer.from(id)]);
      assert.equal(st.code, grpc.status.NOT_FOUND, st.details);
      assert.match(st.details, /^node n{128}…\(99872 more\) not found$/);
      assert.ok(Buffer.byteLength(st.details) <= MAX_DETAILS_BYTES);
    } finally {
      c.close();
    }
  });
});

Deno.test("boundDetails: short messages unchanged, long values and long messages cut", () => {
  assert.equal(boundDetails("node abc not found"), "node abc not found");
  const id = "x".repeat(MAX_ECHO_CHARS);
  assert.equal(boundDetails(`node ${id} not found`), `node ${id} not found`);
  assert.equal(boundDetails(`node ${id}y not found`), `node ${id}…(1 more) not found`);
  // Many short words: only the total cap applies, at a character boundary.
  const long = "é ".repeat(5000);
  const cut = boundDetails(long);
  assert.ok(Buffer.byteLength(cut) <= MAX_DETAILS_BYTES, `${Buffer.byteLength(cut)} bytes`);
  assert.match(cut, /^(é )+é? ?…\(15000 bytes\)$/);
  assert.ok(!cut.includes("\uFFFD"));
});

// ---- helpers ----

function unaryRaw(c: grpc.Client, path: string, body: number[]): Promise<grpc.StatusObject> {
  return new Promise((resolve) => {
    c.makeUnaryRequest(
      path,
      raw,
      raw,
      Buffer.from(body),
      { deadline: Date.now() + 10_000 },
      (e) =>
        resolve(
          e
            ? { code: e.code, details: e.details, metadata: e.metadata }
            : { code: grpc.status.OK, details: "", metadata: new grpc.Metadata() },
        ),
    );
  });
}
