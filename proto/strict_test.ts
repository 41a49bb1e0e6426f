/**
 * Strict decoding: a known field with a wire type its type never uses is refused (protobuf-es alone
 * reinterprets it), everything a conforming encoder produces still decodes.
 */
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SourceCodeInfo_LocationSchema, StructSchema } from "@bufbuild/protobuf/wkt";
import { DecodeError, decodeStrict } from "./strict.ts";
import {
  RebootRequest_Type,
  RebootRequestSchema,
} from "./gen/metropolis/proto/api/management_pb.ts";
import { GetNodesRequestSchema } from "./gen/metropolis/proto/api/management_pb.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);

Deno.test("a start-group tag on an enum field is refused, not read as the value", () => {
  // What protobuf-es alone makes of it: type = 11.
  assert.equal(fromBinary(RebootRequestSchema, bytes(0x0b, 0x0b)).type, 11);
  assert.throws(
    () => decodeStrict(RebootRequestSchema, bytes(0x0b, 0x0b)),
    (e) =>
      e instanceof DecodeError &&
      /RebootRequest\.type \(1\) has wire type 3, expected 0/.test(e.message),
  );
});

Deno.test("length-delimited on a varint field and varint on a string field are refused", () => {
  assert.throws(() => decodeStrict(RebootRequestSchema, bytes(0x0a, 0x01, 0x01)), DecodeError);
  // GetNodesRequest.filter (1) is a string.
  assert.throws(() => decodeStrict(GetNodesRequestSchema, bytes(0x08, 0x01)), /filter \(1\)/);
});

Deno.test("wrong wire types inside nested messages and map entries are refused", () => {
  const s = create(StructSchema, {
    fields: { a: { kind: { case: "numberValue", value: 1 } } },
  });
  const good = toBinary(StructSchema, s);
  assert.deepEqual(decodeStrict(StructSchema, good), s);
  // Struct.fields entry {key: "a" as a varint}: field 1 of the entry with wire type 0.
  assert.throws(() => decodeStrict(StructSchema, bytes(0x0a, 0x02, 0x08, 0x01)), /key \(1\)/);
  // Entry value Value.number_value (2, double) sent as a varint.
  assert.throws(
    () => decodeStrict(StructSchema, bytes(0x0a, 0x04, 0x12, 0x02, 0x10, 0x01)),
    /number_value \(2\)/,
  );
});

Deno.test("valid encodings still decode: values, packed and unpacked repeated, unknown fields", () => {
  const r = decodeStrict(RebootRequestSchema, bytes(0x08, RebootRequest_Type.FIRMWARE));
  assert.equal(r.type, RebootRequest_Type.FIRMWARE);
  const loc = create(SourceCodeInfo_LocationSchema, { path: [1, 2, 300] });
  assert.deepEqual(
    decodeStrict(SourceCodeInfo_LocationSchema, toBinary(SourceCodeInfo_LocationSchema, loc)).path,
    [1, 2, 300],
  );
  // Unpacked form of the same field.
  assert.deepEqual(
    decodeStrict(SourceCodeInfo_LocationSchema, bytes(0x08, 0x01, 0x08, 0x02)).path,
    [1, 2],
  );
  // Unknown field 3 as a well-formed group: kept as unknown, like Go.
  const u = decodeStrict(RebootRequestSchema, bytes(0x1b, 0x08, 0x01, 0x1c));
  assert.equal(u.$unknown?.length, 1);
});

Deno.test("malformed input is refused: unterminated group, stray end-group, truncated length", () => {
  assert.throws(() => decodeStrict(RebootRequestSchema, bytes(0x1b, 0x08, 0x01)), DecodeError);
  assert.throws(() => decodeStrict(RebootRequestSchema, bytes(0x0c)), DecodeError);
  assert.throws(() => decodeStrict(GetNodesRequestSchema, bytes(0x0a, 0x05, 0x61)), DecodeError);
});
