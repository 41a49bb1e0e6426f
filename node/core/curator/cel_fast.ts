/**
 * A direct translation of the common GetNodes filters into JavaScript closures, used instead of
 * @bufbuild/cel's evaluator when a filter lies entirely inside a small subset of CEL (cel.ts).
 *
 * Filters that read health (`node.time_since_heartbeat < duration('6s')`, `node.health ==
 * HEALTH_HEALTHY`) are evaluated on every node of every call, because health changes between
 * calls. @bufbuild/cel reflects the message, converts every field it reads into a CEL value and
 * checks for errors at each step: ≈ 2 µs per node, about half the leader's CPU for such a call
 * over 10,000 nodes (CPU profile in docs/benchmarks.md). The subset below reads plain fields of the
 * protobuf-es message and compares them with precomputed constants.
 *
 * The subset is chosen so that no sub-expression can fail: every value has one statically known
 * type, comparisons are only between operands of that type, and a field of an unset message reads
 * as its default (CEL's protobuf semantics). `&&` and `||` then need none of CEL's error
 * absorption and are JavaScript's. Anything else — comprehensions, functions, maps, lists, uint,
 * double, bytes, timestamps, oneof members, string ordering, operands of different types —
 * makes {@link compileFast} return undefined and the filter goes to @bufbuild/cel.
 * cel_fast_test.ts checks the translation against @bufbuild/cel on generated filters.
 *
 * Input: the parsed expression after cel.ts's rewrites (`node` as `.node`, enum names as int
 * literals, `duration('…')` literals as `.__literal<i>` bound in `literals`, typed orderings as
 * `@duration_<_` and the like).
 */
import { type DescField, type DescMessage, isFieldSet, ScalarType } from "@bufbuild/protobuf";
import type { parse } from "@bufbuild/cel";
import { type Node, NodeSchema } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { compareTimes, ORDER_OPS, typedOrderName } from "./cel_compare.ts";

type Expr = ReturnType<typeof parse>["expr"];

/** A compiled filter of the subset. */
export type FastFilter = (node: Node) => boolean;

/** The static type of a compiled sub-expression, with its JavaScript representation. */
type Kind =
  | "bool" // boolean
  | "int" // number (enum, int32)
  | "int64" // bigint (int64 fields)
  | "intlit" // an int literal (bigint), adapted to the other operand's representation
  | "string" // string
  | "duration"; // { seconds: bigint; nanos: number }

interface Compiled {
  kind: Kind;
  /** Reads the value from a node. */
  get: (n: Node) => unknown;
  /** The value, if it is a constant. */
  constant?: unknown;
}

/** A duration as the translation compares it. */
interface Dur {
  seconds: bigint;
  nanos: number;
}

const ZERO_DURATION: Dur = Object.freeze({ seconds: 0n, nanos: 0 });

/** Thrown inside the translation when the expression leaves the subset. */
class Outside extends Error {}

/**
 * The filter as a closure, or undefined if `root` is outside the subset. `literals` are the
 * values cel.ts bound for `.__literal<i>` names.
 */
export function compileFast(
  root: Expr,
  literals: Readonly<Record<string, unknown>>,
): FastFilter | undefined {
  try {
    const c = compile(root, literals);
    if (c.kind !== "bool") return undefined;
    return c.get as FastFilter;
  } catch (e) {
    if (e instanceof Outside) return undefined;
    throw e;
  }
}

function outside(): never {
  throw new Outside();
}

function compile(e: Expr, literals: Readonly<Record<string, unknown>>): Compiled {
  const ek = e.exprKind;
  switch (ek.case) {
    case "constExpr":
      return constant(ek.value.constantKind);
    case "identExpr": {
      const name = ek.value.name;
      if (name.startsWith(".__literal") && Object.hasOwn(literals, name.slice(1))) {
        const d = durationOf(literals[name.slice(1)]);
        return { kind: "duration", get: () => d, constant: d };
      }
      return outside();
    }
    case "selectExpr":
      return select(ek.value.operand, ek.value.field, ek.value.testOnly);
    case "callExpr": {
      const c = ek.value;
      if (c.target) return outside();
      const args = c.args.map((a) => compile(a, literals));
      return call(c.function, args);
    }
    default:
      return outside();
  }
}

function constant(k: Extract<Expr["exprKind"], { case: "constExpr" }>["value"]["constantKind"]) {
  switch (k.case) {
    case "boolValue": {
      const v = k.value;
      return { kind: "bool", get: () => v, constant: v } satisfies Compiled;
    }
    case "int64Value": {
      const v = k.value;
      return { kind: "intlit", get: () => v, constant: v } satisfies Compiled;
    }
    case "stringValue": {
      const v = k.value;
      return { kind: "string", get: () => v, constant: v } satisfies Compiled;
    }
    default:
      return outside();
  }
}

/** A duration literal as @bufbuild/cel computed it (a reflected Duration message). */
function durationOf(v: unknown): Dur {
  const m = (v as { message?: unknown })?.message as Partial<Dur> | undefined;
  if (
    (v as { desc?: { typeName?: string } })?.desc?.typeName !== "google.protobuf.Duration" ||
    typeof m?.seconds !== "bigint" || typeof m?.nanos !== "number"
  ) {
    return outside();
  }
  return { seconds: m.seconds, nanos: m.nanos };
}

/** The chain of fields of `operand.field`, from `.node`; throws {@link Outside} otherwise. */
function fieldPath(operand: Expr | undefined, field: string): DescField[] {
  if (!operand) return outside();
  const ok = operand.exprKind;
  let desc: DescMessage;
  let path: DescField[];
  if (ok.case === "identExpr" && ok.value.name === ".node") {
    desc = NodeSchema;
    path = [];
  } else if (ok.case === "selectExpr" && !ok.value.testOnly) {
    path = fieldPath(ok.value.operand, ok.value.field);
    const last = path[path.length - 1];
    if (last.fieldKind !== "message" || last.message.typeName.startsWith("google.protobuf.")) {
      return outside();
    }
    desc = last.message;
  } else {
    return outside();
  }
  const f = desc.fields.find((f) => f.name === field);
  if (!f || f.oneof) return outside();
  return [...path, f];
}

/** Reads the message holding the last field of `path` (undefined: an unset message on the way). */
function parentReader(path: DescField[]): (n: Node) => Record<string, unknown> | undefined {
  const names = path.slice(0, -1).map((f) => f.localName);
  switch (names.length) {
    case 0:
      return (n) => n as unknown as Record<string, unknown>;
    case 1: {
      const [a] = names;
      return (n) => (n as unknown as Record<string, Record<string, unknown> | undefined>)[a];
    }
    default:
      return (n) => {
        let m = n as unknown as Record<string, unknown> | undefined;
        for (const name of names) {
          m = m![name] as Record<string, unknown> | undefined;
          if (m === undefined) return undefined;
        }
        return m;
      };
  }
}

function select(operand: Expr | undefined, field: string, testOnly: boolean): Compiled {
  const path = fieldPath(operand, field);
  const f = path[path.length - 1];
  const parent = parentReader(path);
  if (testOnly) {
    // has(): an unset message on the way has no fields set; otherwise protobuf presence.
    return {
      kind: "bool",
      get: (n) => {
        const m = parent(n);
        return m !== undefined && isFieldSet(m as never, f);
      },
    };
  }
  const name = f.localName;
  if (f.fieldKind === "enum") {
    return { kind: "int", get: (n) => (parent(n)?.[name] as number | undefined) ?? 0 };
  }
  if (f.fieldKind === "message" && f.message.typeName === "google.protobuf.Duration") {
    return {
      kind: "duration",
      get: (n) => (parent(n)?.[name] as Dur | undefined) ?? ZERO_DURATION,
    };
  }
  if (f.fieldKind !== "scalar") return outside();
  switch (f.scalar) {
    case ScalarType.STRING:
      return { kind: "string", get: (n) => (parent(n)?.[name] as string | undefined) ?? "" };
    case ScalarType.BOOL:
      return { kind: "bool", get: (n) => (parent(n)?.[name] as boolean | undefined) ?? false };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { kind: "int", get: (n) => (parent(n)?.[name] as number | undefined) ?? 0 };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      // protobuf-es represents 64-bit fields as bigint unless a field option says otherwise.
      if (f.longAsString) return outside();
      return { kind: "int64", get: (n) => (parent(n)?.[name] as bigint | undefined) ?? 0n };
    default:
      return outside();
  }
}

/** The ordering operator (`_<_`, …) behind each typed duration comparison cel.ts names. */
const DURATION_ORDERS: ReadonlyMap<string, string> = new Map(
  Object.keys(ORDER_OPS).map((op) => [typedOrderName(op, "duration")!, op]),
);

function call(fn: string, args: Compiled[]): Compiled {
  if (fn === "!_" && args.length === 1 && args[0].kind === "bool") {
    const a = args[0].get;
    return { kind: "bool", get: (n) => !a(n) };
  }
  if (args.length !== 2) return outside();
  const [l, r] = args;
  if (fn === "_&&_" || fn === "_||_") {
    if (l.kind !== "bool" || r.kind !== "bool") return outside();
    const a = l.get, b = r.get;
    return fn === "_&&_"
      ? { kind: "bool", get: (n) => (a(n) as boolean) && (b(n) as boolean) }
      : { kind: "bool", get: (n) => (a(n) as boolean) || (b(n) as boolean) };
  }
  // cel.ts renames orderings of two known durations (typedOrderName, cel_compare.ts).
  const typed = DURATION_ORDERS.get(fn);
  if (typed && (l.kind !== "duration" || r.kind !== "duration")) return outside();
  const op = typed ?? fn;
  const equality = op === "_==_" || op === "_!=_";
  if (!equality && !Object.hasOwn(ORDER_OPS, op)) return outside();
  const [a, b] = sameKind(l, r);
  const kind = a.kind;
  if (kind === "duration") {
    const x = a.get as (n: Node) => Dur, y = b.get as (n: Node) => Dur;
    const cmp = (n: Node) => compareTimes(x(n), y(n));
    if (op === "_==_") return { kind: "bool", get: (n) => cmp(n) === 0 };
    if (op === "_!=_") return { kind: "bool", get: (n) => cmp(n) !== 0 };
    const test = ORDER_OPS[op];
    return { kind: "bool", get: (n) => test(cmp(n)) };
  }
  // Strings are only compared for equality: JavaScript orders UTF-16 code units, CEL code points.
  if (kind === "string" && !equality) return outside();
  if (kind === "bool" && !equality) return outside();
  const x = a.get, y = b.get;
  switch (op) {
    case "_==_":
      return { kind: "bool", get: (n) => x(n) === y(n) };
    case "_!=_":
      return { kind: "bool", get: (n) => x(n) !== y(n) };
    case "_<_":
      return { kind: "bool", get: (n) => (x(n) as number) < (y(n) as number) };
    case "_<=_":
      return { kind: "bool", get: (n) => (x(n) as number) <= (y(n) as number) };
    case "_>_":
      return { kind: "bool", get: (n) => (x(n) as number) > (y(n) as number) };
    default:
      return { kind: "bool", get: (n) => (x(n) as number) >= (y(n) as number) };
  }
}

/**
 * The operands with one representation: an int literal takes its field's (number or bigint);
 * two literals, or two operands of different types, leave the subset.
 */
function sameKind(l: Compiled, r: Compiled): [Compiled, Compiled] {
  if (l.kind === "intlit" && r.kind !== "intlit") return sameKind(r, l).reverse() as never;
  if (r.kind === "intlit") {
    if (l.kind === "int64") return [l, r];
    if (l.kind !== "int") return outside();
    const v = r.constant as bigint;
    // A literal beyond the doubles' exact integers would compare wrongly as a number.
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      return outside();
    }
    const num = Number(v);
    return [l, { kind: "int", get: () => num, constant: num }];
  }
  if (l.kind !== r.kind) return outside();
  // Two fields: fine, both read with the same representation. Two constants: also fine.
  return [l, r];
}
