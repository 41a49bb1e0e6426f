/**
 * Strict binary decoding. protobuf-es reads a known field by the field's declared type whatever
 * wire type the tag says (a start-group tag `0x0b` on an enum field is read as the varint that
 * follows), so bytes that Go's protobuf would never interpret as that field become a value. This
 * walks the bytes against the schema first and refuses a known field carrying the wrong wire type,
 * then decodes with protobuf-es.
 *
 * (project) Go's protobuf keeps such a field as an unknown field instead of failing; refusing is
 * stricter, and no client built from the same schema sends one. Malformed unknown fields (an
 * unterminated group, a truncated length) fail in both.
 */
import { fromBinary, ScalarType } from "@bufbuild/protobuf";
import type { DescField, DescMessage, MessageShape } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/** Nesting limit of messages and groups (protobuf-es's and Go's default). */
const RECURSION_LIMIT = 100;

/** A request or response whose bytes are not a valid encoding of its message type. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

/** Decodes `bytes` as `schema`, throwing {@link DecodeError} on any malformed or mistyped field. */
export function decodeStrict<D extends DescMessage>(schema: D, bytes: Uint8Array): MessageShape<D> {
  try {
    checkWireTypes(schema, new BinaryReader(bytes), bytes.byteLength, 0);
    return fromBinary(schema, bytes);
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    throw new DecodeError(`cannot decode ${schema.typeName}: ${(e as Error).message}`);
  }
}

function scalarWireType(t: ScalarType): WireType {
  switch (t) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    default:
      return WireType.Varint;
  }
}

/** Wire types a field accepts; packable repeated fields also accept the packed form. */
function accepted(f: DescField): WireType[] {
  switch (f.fieldKind) {
    case "scalar":
      return [scalarWireType(f.scalar)];
    case "enum":
      return [WireType.Varint];
    case "message":
      return [f.delimitedEncoding ? WireType.StartGroup : WireType.LengthDelimited];
    case "map":
      return [WireType.LengthDelimited];
    case "list":
      if (f.listKind === "message") {
        return [f.delimitedEncoding ? WireType.StartGroup : WireType.LengthDelimited];
      }
      {
        const w = f.listKind === "enum" ? WireType.Varint : scalarWireType(f.scalar);
        return w === WireType.LengthDelimited ? [w] : [w, WireType.LengthDelimited];
      }
  }
}

/** The message type to descend into for a field's (non-packed) value, if it has one. */
function nested(f: DescField): DescMessage | undefined {
  if (f.fieldKind === "message") return f.message;
  if (f.fieldKind === "list" && f.listKind === "message") return f.message;
  return undefined;
}

/**
 * Checks the fields of one message from `r.pos` to `end` (or, with `group`, up to the END_GROUP
 * tag of field `group`).
 */
function checkWireTypes(
  schema: DescMessage,
  r: BinaryReader,
  end: number,
  depth: number,
  group?: number,
): void {
  if (depth > RECURSION_LIMIT) {
    throw new DecodeError(
      `cannot decode ${schema.typeName}: nesting deeper than ${RECURSION_LIMIT}`,
    );
  }
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (wt === WireType.EndGroup) {
      if (group === no) return;
      throw new DecodeError(`cannot decode ${schema.typeName}: unexpected end-group tag ${no}`);
    }
    const f = schema.fields.find((x) => x.number === no);
    if (!f) {
      r.skip(wt, no);
      continue;
    }
    const ok = accepted(f);
    if (!ok.includes(wt)) {
      throw new DecodeError(
        `field ${schema.typeName}.${f.name} (${no}) has wire type ${wt}, expected ${
          ok.join(" or ")
        }`,
      );
    }
    const sub = nested(f);
    if (sub && wt === WireType.StartGroup) {
      checkWireTypes(sub, r, r.len, depth + 1, no);
    } else if (sub) {
      const b = r.bytes();
      checkWireTypes(sub, new BinaryReader(b), b.byteLength, depth + 1);
    } else if (f.fieldKind === "map") {
      const b = r.bytes();
      checkWireTypes(mapEntry(f), new BinaryReader(b), b.byteLength, depth + 1);
    } else {
      r.skip(wt, no);
    }
  }
  if (group !== undefined) {
    throw new DecodeError(`cannot decode ${schema.typeName}: group ${group} not terminated`);
  }
}

const entries = new WeakMap<DescField, DescMessage>();

/** A stand-in message type for one map entry: key = field 1, value = field 2. */
function mapEntry(f: DescField & { fieldKind: "map" }): DescMessage {
  let m = entries.get(f);
  if (!m) {
    const key = { number: 1, name: "key", fieldKind: "scalar", scalar: f.mapKey };
    const value = f.mapKind === "message"
      ? { number: 2, name: "value", fieldKind: "message", message: f.message }
      : f.mapKind === "enum"
      ? { number: 2, name: "value", fieldKind: "enum" }
      : { number: 2, name: "value", fieldKind: "scalar", scalar: f.scalar };
    m = {
      typeName: `${f.parent.typeName}.${f.name}.Entry`,
      fields: [key, value],
    } as unknown as DescMessage;
    entries.set(f, m);
  }
  return m;
}
