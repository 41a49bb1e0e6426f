/** Round-trip of fully populated messages of every package through the binary and JSON codecs. */
import assert from "node:assert/strict";
import { create, equals, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { SAMPLES } from "./samples.ts";
import { registry } from "./registry.ts";
import {
  GetCurrentLeaderResponseSchema,
} from "./gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { UpdateNodeRolesRequestSchema } from "./gen/metropolis/proto/api/management_pb.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

for (const [name, { schema, message }] of Object.entries(SAMPLES)) {
  Deno.test(`round-trip binary: ${name}`, () => {
    const bytes = toBinary(schema, message);
    assert.ok(bytes.length > 0, "sample encodes to something");
    const back = fromBinary(schema, bytes);
    assert.deepStrictEqual(back, message);
    assert.ok(equals(schema, back, message));
    // Encoding is stable: re-encoding the decoded message gives the same bytes.
    assert.equal(hex(toBinary(schema, back)), hex(bytes));
  });

  Deno.test(`round-trip JSON: ${name}`, () => {
    const json = toJson(schema, message, { registry });
    const back = fromJson(schema, json, { registry });
    assert.ok(equals(schema, back, message), JSON.stringify(json));
  });
}

Deno.test("every proto package has a round-trip sample", () => {
  const packages = new Set(Object.values(SAMPLES).map((s) => s.schema.file.proto.package));
  assert.deepStrictEqual([...packages].sort(), [
    "metropolis.node.core.curator.proto.api",
    "metropolis.node.core.curator.proto.private",
    "metropolis.proto.api",
    "metropolis.proto.common",
    "metropolis.proto.ext",
    "metropolis.proto.private",
    "osbase.logtree.proto",
    "osbase.net.proto",
    "version.spec",
  ]);
});

Deno.test("wire bytes use the spec's field numbers (golden encoding)", () => {
  const m = create(GetCurrentLeaderResponseSchema, {
    leaderNodeId: "n",
    leaderHost: "h",
    leaderPort: 7835,
    thisNodeId: "t",
  });
  // 1:"n" 2:"h" 3:varint 7835 4:"t"
  assert.equal(hex(toBinary(GetCurrentLeaderResponseSchema, m)), "0a016e120168189b3d220174");
});

Deno.test("proto3 optional keeps an explicit false, absent stays absent", () => {
  const m = create(UpdateNodeRolesRequestSchema, {
    node: { case: "pubkey", value: new Uint8Array(32).fill(1) },
    consensusMember: false,
  });
  const bytes = toBinary(UpdateNodeRolesRequestSchema, m);
  const back = fromBinary(UpdateNodeRolesRequestSchema, bytes);
  assert.equal(back.consensusMember, false);
  assert.equal(back.kubernetesWorker, undefined);
  assert.equal(back.kubernetesController, undefined);
  assert.equal(back.node.case, "pubkey");
  // Field 3 (consensus_member) is on the wire as `18 00` even though it is false.
  assert.ok(hex(bytes).includes("1800"), hex(bytes));
});

Deno.test("garbage bytes do not decode", () => {
  // Field 1 with wire type 7 does not exist in the protobuf encoding.
  assert.throws(() => fromBinary(GetCurrentLeaderResponseSchema, new Uint8Array([0x0f, 1, 2])));
  // A length prefix running past the end of the buffer.
  assert.throws(() => fromBinary(GetCurrentLeaderResponseSchema, new Uint8Array([0x0a, 0x50])));
});
