/**
 * The GetNodes filter (node.md §12.11): a CEL expression over the variable `node`
 * (`metropolis.proto.api.Node`), evaluated with @bufbuild/cel.
 *
 * @bufbuild/cel has no type checker (its `check()` handles constants and identifiers only), so
 * mistakes would otherwise surface only when the filter meets a node — and a filter over an
 * empty cluster would never fail. {@link compileNodeFilter} therefore adds a small static pass
 * over the parsed expression that catches what upstream's checker catches most often: unknown
 * fields of `node` and its sub-messages, calls of unknown functions, undeclared bare identifiers
 * and a result that cannot be a bool. Everything else is caught per node at evaluation.
 *
 * Any node certificate may call GetNodes, and the leader evaluates filters on its only JS thread,
 * next to heartbeats and lease renewals: a filter's cost is therefore bounded twice (see
 * {@link FilterLimits}). Before evaluation, its length, nesting and estimated cost per node are
 * checked ({@link FilterError}, INVALID_ARGUMENT); during evaluation, every comprehension
 * iteration is charged against a per-node and a per-call budget ({@link FilterBudgetError},
 * RESOURCE_EXHAUSTED). The caller yields between nodes (management.ts).
 */
import {
  celEnv,
  celFunc,
  celMethod,
  CelScalar,
  celType,
  isCelError,
  objectType,
  parse,
  plan,
} from "@bufbuild/cel";
import type { CelFunc, CelType } from "@bufbuild/cel";
import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { registry } from "../../../proto/registry.ts";
import {
  type Node,
  Node_HealthSchema,
  NodeSchema,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { NodeStateSchema } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { MAX_LABELS } from "./labels.ts";
import { TYPED_ORDER_FUNCS, typedOrderName } from "./cel_compare.ts";
import { compileFast } from "./cel_fast.ts";

/**
 * A compiled filter, for one GetNodes call: throws {@link FilterError} if evaluation fails or
 * yields a non-bool, {@link FilterBudgetError} once the call's budget is spent.
 */
export type NodeFilter = ((node: Node) => boolean) & {
  /** Set when the filter runs as cel_fast.ts's translation rather than through @bufbuild/cel. */
  readonly fast?: true;
};

/** A filter that does not parse, plan or evaluate to a bool; the service answers INVALID_ARGUMENT. */
export class FilterError extends Error {
  /** `message` is the CEL message, on one line. */
  constructor(message: string) {
    super(oneLine(message));
    this.name = "FilterError";
  }
}

/**
 * A filter that passed the static checks but spent its evaluation budget (per node or per call);
 * the service answers RESOURCE_EXHAUSTED.
 */
export class FilterBudgetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FilterBudgetError";
  }
}

/**
 * Bounds on a filter. Costs are in units of the static estimate: one per expression node
 * evaluated, so an iteration of a comprehension costs the size of its condition and step, and
 * `matches` its regular expression's compilation. A unit takes 0.4–2 µs (string conversions
 * are the slowest), so one node's evaluation blocks the thread for at most ≈ 50 ms, and a call
 * spends at most a few seconds of CPU, spread over many event-loop turns (management.ts).
 */
export interface FilterLimits {
  /** Characters of the expression. */
  maxLength: number;
  /** Nesting of brackets in the source and depth of the parsed expression. */
  maxDepth: number;
  /** Nodes of the parsed expression. */
  maxNodes: number;
  /** Estimated cost of evaluating the filter on one node. */
  maxCost: number;
  /** Cost one node's evaluation may spend at run time. */
  nodeBudget: number;
  /** Cost all evaluations of one compiled filter (one GetNodes call) may spend together. */
  callBudget: number;
}

/** The limits GetNodes applies. */
export const FILTER_LIMITS: Readonly<FilterLimits> = Object.freeze({
  maxLength: 16_384,
  maxDepth: 100,
  maxNodes: 4_096,
  maxCost: 25_000,
  nodeBudget: 25_000,
  callBudget: 2_500_000,
});

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/**
 * Enum value names bound as int constants at the root, so that `node.state == NODE_STATE_UP` and
 * `node.health == HEALTH_HEALTHY` work as in upstream (CEL would otherwise need the qualified
 * `metropolis.proto.common.NodeState.NODE_STATE_UP`, which also works).
 */
const CONSTANTS: Readonly<Record<string, bigint>> = Object.freeze(Object.fromEntries(
  [...NodeStateSchema.values, ...Node_HealthSchema.values].map((v) => [v.name, BigInt(v.number)]),
));

// The package of Node, so `Node.Health.HEALTH_HEALTHY` resolves like in a .proto file.
const NAMESPACE = "metropolis.proto.api";

const VARIABLES: Record<string, CelType> = {
  node: objectType(NodeSchema),
  ...Object.fromEntries(Object.keys(CONSTANTS).map((k) => [k, CelScalar.INT])),
};

let envCache: ReturnType<typeof makeEnv> | undefined;
function makeEnv() {
  const funcs = [budgetFunc, meteredMatches(celEnv().funcs.find("matches")), ...TYPED_ORDER_FUNCS];
  return celEnv({ namespace: NAMESPACE, registry, variables: VARIABLES, funcs });
}
/** The CEL environment, built on first use (building the WKT registry costs a few ms). */
function env() {
  return envCache ??= makeEnv();
}

/**
 * Parses and plans `expr` once and returns the per-node predicate. An empty or all-whitespace
 * expression accepts every node. Throws {@link FilterError} on a syntax error or a static error
 * (unknown field, unknown function, undeclared identifier, non-bool result). `options.fast:
 * false` always evaluates with @bufbuild/cel (tests compare the two paths).
 */
export function compileNodeFilter(
  expr: string,
  limits: Readonly<FilterLimits> = FILTER_LIMITS,
  options: { fast?: boolean } = {},
): NodeFilter {
  if (expr.trim() === "") return () => true;
  if (expr.length > limits.maxLength) {
    throw new FilterError(
      `filter too long: ${expr.length} characters, at most ${limits.maxLength} allowed`,
    );
  }
  // Before parsing: the parser recurses per bracket and would run out of stack on deep nesting.
  const nesting = bracketNesting(expr);
  if (nesting > limits.maxDepth) {
    throw new FilterError(`filter nested too deeply: more than ${limits.maxDepth} levels`);
  }
  let parsed: Parsed;
  try {
    parsed = parse(expr);
  } catch (e) {
    throw new FilterError((e as Error).message);
  }
  const typed = staticCheck(parsed.expr);
  const meter = new Meter(limits, instrument(parsed.expr, limits));
  const literals = foldNames(parsed.expr);
  typeComparisons(typed);
  let fn: ReturnType<typeof plan>;
  try {
    fn = plan(env(), parsed);
  } catch (e) {
    throw new FilterError((e as Error).message);
  }
  // Filters inside cel_fast.ts's subset cannot fail and skip @bufbuild/cel's evaluator (planned
  // above all the same, so that both paths refuse the same filters). They are metered alike: the
  // flat cost per node counts against the call's budget.
  const fast = options.fast === false ? undefined : compileFast(parsed.expr, literals);
  if (fast) {
    return Object.assign((node: Node): boolean => {
      meter.start();
      const r = fast(node);
      meter.stop();
      meter.check();
      return r;
    }, { fast: true as const });
  }
  // One bindings object reused for every node: evaluation is synchronous, and this avoids an
  // allocation and a copy of the constants per node.
  const bindings: Record<string, unknown> = { ...CONSTANTS, ...literals, node: undefined };
  return (node: Node): boolean => {
    bindings.node = node;
    let r;
    meter.start();
    try {
      r = fn(bindings as never);
    } catch (e) {
      throw new FilterError((e as Error).message);
    } finally {
      bindings.node = undefined;
      meter.stop();
    }
    // Checked before the result: `||`, `&&` and `?:` may absorb the error that stopped a loop.
    meter.check();
    if (isCelError(r)) throw new FilterError(r.message);
    if (typeof r !== "boolean") {
      throw new FilterError(`filter must evaluate to bool, got ${celType(r)}`);
    }
    return r;
  };
}

type Parsed = ReturnType<typeof parse>;
type Expr = Parsed["expr"];

/** What the static pass knows about a sub-expression's type. */
type Known =
  | { kind: "message"; desc: DescMessage }
  | { kind: "value"; type: string } // a CEL type name: bool, int, string, duration, …
  | undefined; // unknown (dynamic)

// Functions the planner implements itself rather than through the resolver.
const SPECIAL_CALLS = new Set([
  "_[_]",
  "_[?_]",
  "_?._",
  "_?_:_",
  "_&&_",
  "_||_",
  "@not_strictly_false",
  "__not_strictly_false__",
]);

// Type denotations that are valid bare identifiers.
const TYPE_NAMES = new Set([
  "int",
  "uint",
  "double",
  "bool",
  "string",
  "bytes",
  "list",
  "map",
  "null_type",
  "type",
  "dyn",
]);

function staticCheck(root: Expr): Map<Expr, string> {
  const shadowed = new Set<string>(); // comprehension variables in scope
  // Ordering comparisons whose operands are both of one known type, with the name of their typed
  // function (see typeComparisons).
  const typed = new Map<Expr, string>();
  const k = visit(root);
  if (k?.kind === "message") {
    throw new FilterError(`filter must evaluate to bool, got ${k.desc.typeName}`);
  }
  if (k?.kind === "value" && k.type !== "bool") {
    throw new FilterError(`filter must evaluate to bool, got ${k.type}`);
  }
  return typed;

  function visit(e: Expr | undefined): Known {
    if (!e) return undefined;
    const ek = e.exprKind;
    switch (ek.case) {
      case "constExpr":
        return { kind: "value", type: constType(ek.value.constantKind.case) };
      case "identExpr":
        return ident(ek.value.name);
      case "selectExpr": {
        const operand = ek.value.operand;
        // A bare identifier under a select may be the first part of a qualified name
        // (`metropolis.proto.common.NodeState.NODE_STATE_UP`): not checked here.
        const on = operand?.exprKind.case === "identExpr" &&
            !isVariable(operand.exprKind.value.name)
          ? undefined
          : visit(operand);
        if (on === undefined) return undefined;
        if (on.kind === "value") {
          throw new FilterError(`type '${on.type}' does not support field selection`);
        }
        const f = on.desc.fields.find((f) => f.name === ek.value.field);
        if (!f) {
          throw new FilterError(`undefined field '${ek.value.field}' of ${on.desc.typeName}`);
        }
        return ek.value.testOnly ? { kind: "value", type: "bool" } : fieldType(f);
      }
      case "callExpr": {
        const c = ek.value;
        const args = c.args.map(visit);
        const [l, r] = args;
        const name = !c.target && args.length === 2 && l?.kind === "value" &&
          r?.kind === "value" && l.type === r.type && typedOrderName(c.function, l.type);
        if (name) typed.set(e, name);
        const qualified = c.target && qualifiedName(c.target);
        if (qualified === undefined) visit(c.target);
        if (!SPECIAL_CALLS.has(c.function) && env().funcs.find(c.function) === undefined) {
          const viaTarget = qualified !== undefined &&
            candidates(`${qualified}.${c.function}`).some((n) => env().funcs.find(n));
          if (!viaTarget) throw new FilterError(`undeclared reference to '${c.function}'`);
        }
        return callType(c.function);
      }
      case "listExpr":
        ek.value.elements.forEach(visit);
        return { kind: "value", type: "list" };
      case "structExpr":
        ek.value.entries.forEach((en) => {
          if (en.keyKind.case === "mapKey") visit(en.keyKind.value);
          visit(en.value);
        });
        return ek.value.messageName === "" ? { kind: "value", type: "map" } : undefined;
      case "comprehensionExpr": {
        const c = ek.value;
        visit(c.iterRange);
        visit(c.accuInit);
        const added = [c.iterVar, c.iterVar2, c.accuVar].filter((v) => v && !shadowed.has(v));
        added.forEach((v) => shadowed.add(v));
        visit(c.loopCondition);
        visit(c.loopStep);
        const r = visit(c.result);
        added.forEach((v) => shadowed.delete(v));
        return r;
      }
      default:
        return undefined;
    }
  }

  function isVariable(name: string): boolean {
    return shadowed.has(name) || name in VARIABLES;
  }

  function ident(name: string): Known {
    if (shadowed.has(name)) return undefined;
    if (name === "node") return { kind: "message", desc: NodeSchema };
    if (name in CONSTANTS) return { kind: "value", type: "int" };
    if (TYPE_NAMES.has(name)) return { kind: "value", type: "type" };
    // A bare type or enum name visible from the namespace (e.g. `Node` in `type(node) == Node`).
    if (candidates(name).some((n) => registry.get(n) !== undefined)) return undefined;
    throw new FilterError(`undeclared reference to '${name}' (in container '${NAMESPACE}')`);
  }
}

/** CEL name resolution candidates of `name` in {@link NAMESPACE}, innermost first. */
function candidates(name: string): string[] {
  if (name.startsWith(".")) return [name.slice(1)];
  const parts = NAMESPACE.split(".");
  const out: string[] = [];
  for (let i = parts.length; i > 0; i--) out.push(`${parts.slice(0, i).join(".")}.${name}`);
  out.push(name);
  return out;
}

/** `a.b.c` if `e` is a chain of selects over an identifier that is not a variable. */
function qualifiedName(e: Expr): string | undefined {
  const ek = e.exprKind;
  if (ek.case === "identExpr") return ek.value.name in VARIABLES ? undefined : ek.value.name;
  if (ek.case === "selectExpr" && ek.value.operand && !ek.value.testOnly) {
    const q = qualifiedName(ek.value.operand);
    return q === undefined ? undefined : `${q}.${ek.value.field}`;
  }
  return undefined;
}

function constType(c: string | undefined): string {
  switch (c) {
    case "boolValue":
      return "bool";
    case "int64Value":
      return "int";
    case "uint64Value":
      return "uint";
    case "doubleValue":
      return "double";
    case "stringValue":
      return "string";
    case "bytesValue":
      return "bytes";
    case "nullValue":
      return "null_type";
    default:
      return "dyn";
  }
}

// Result types of the operators whose result type does not depend on their operands.
const BOOL_CALLS = new Set([
  "_==_",
  "_!=_",
  "_<_",
  "_<=_",
  "_>_",
  "_>=_",
  "_&&_",
  "_||_",
  "!_",
  "@in",
  "_in_",
  "matches",
  "startsWith",
  "endsWith",
  "contains",
  "@not_strictly_false",
  "__not_strictly_false__",
]);

function callType(fn: string): Known {
  if (BOOL_CALLS.has(fn)) return { kind: "value", type: "bool" };
  // Their result, when there is one, has their name as its type (`duration(x)` is a duration).
  if (fn === "duration" || fn === "timestamp") return { kind: "value", type: fn };
  if (fn === "size") return { kind: "value", type: "int" };
  return undefined;
}

function fieldType(f: DescField): Known {
  switch (f.fieldKind) {
    case "message":
      if (f.message.typeName === "google.protobuf.Duration") {
        return { kind: "value", type: "duration" };
      }
      if (f.message.typeName === "google.protobuf.Timestamp") {
        return { kind: "value", type: "timestamp" };
      }
      // Other well-known types unwrap to CEL values; leave them dynamic.
      if (f.message.typeName.startsWith("google.protobuf.")) return undefined;
      return { kind: "message", desc: f.message };
    case "enum":
      return { kind: "value", type: "int" };
    case "list":
      return { kind: "value", type: "list" };
    case "map":
      return { kind: "value", type: "map" };
    case "scalar":
      return { kind: "value", type: scalarCelType(f.scalar) };
  }
}

function scalarCelType(s: ScalarType): string {
  switch (s) {
    case ScalarType.BOOL:
      return "bool";
    case ScalarType.STRING:
      return "string";
    case ScalarType.BYTES:
      return "bytes";
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return "double";
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return "uint";
    default:
      return "int";
  }
}

/**
 * Points each comparison of `typed` (from {@link staticCheck}: an ordering of two operands of one
 * known type, with its typed function's name) at that function (cel_compare.ts), which skips
 * @bufbuild/cel's per-evaluation choice among the operator's overloads. Done after the cost
 * instrumentation, which reads the calls' names.
 */
function typeComparisons(typed: Map<Expr, string>): void {
  for (const [e, name] of typed) {
    if (e.exprKind.case === "callExpr") e.exprKind.value.function = name;
  }
}

/**
 * Rewrites names whose meaning is fixed before planning, because @bufbuild/cel resolves every
 * identifier per evaluation by trying each candidate of the namespace (`metropolis.proto.api.x`,
 * `metropolis.proto.x`, …, `x`) against the bindings and the type registry — most of a filter's
 * per-node cost (GetNodes over 10,000 nodes). Enum constants (`NODE_STATE_UP`) become int
 * literals; `node` becomes the root-scoped `.node`, a single lookup; `duration('…')` and
 * `timestamp('…')` of a string literal are computed once and bound as `.__literal<i>` (a bad
 * literal is a FilterError at once). Names bound by a comprehension anywhere in the expression
 * are left alone. Returns the bindings of the computed literals.
 */
function foldNames(root: Expr): Record<string, unknown> {
  const literals: Record<string, unknown> = {};
  const bound = new Set<string>();
  const collect = (e: Expr): void => {
    if (e.exprKind.case === "comprehensionExpr") {
      const c = e.exprKind.value;
      for (const v of [c.iterVar, c.iterVar2, c.accuVar]) if (v) bound.add(v);
    }
    childrenOf(e).forEach(collect);
  };
  collect(root);
  const rewrite = (e: Expr): void => {
    const ek = e.exprKind;
    if (ek.case === "identExpr") {
      const name = ek.value.name;
      if (bound.has(name)) return;
      if (Object.hasOwn(CONSTANTS, name)) {
        e.exprKind = {
          case: "constExpr",
          value: { constantKind: { case: "int64Value", value: CONSTANTS[name] } },
        } as never;
      } else if (name === "node") {
        ek.value.name = ".node";
      }
      return;
    }
    if (ek.case === "callExpr") {
      const c = ek.value;
      const arg = c.args[0]?.exprKind;
      if (
        (c.function === "duration" || c.function === "timestamp") && !c.target &&
        c.args.length === 1 && arg?.case === "constExpr" &&
        arg.value.constantKind.case === "stringValue"
      ) {
        const name = `__literal${Object.keys(literals).length}`;
        literals[name] = literal(c.function, arg.value.constantKind.value);
        e.exprKind = { case: "identExpr", value: { name: `.${name}` } } as never;
        return;
      }
    }
    childrenOf(e).forEach(rewrite);
  };
  rewrite(root);
  return literals;
}

/** The direct sub-expressions of `e` (operands, arguments, elements, entries, loop parts). */
function childrenOf(e: Expr): Expr[] {
  const ek = e.exprKind;
  const out: (Expr | undefined)[] = [];
  switch (ek.case) {
    case "selectExpr":
      out.push(ek.value.operand);
      break;
    case "callExpr":
      out.push(ek.value.target, ...ek.value.args);
      break;
    case "listExpr":
      out.push(...ek.value.elements);
      break;
    case "structExpr":
      for (const en of ek.value.entries) {
        if (en.keyKind.case === "mapKey") out.push(en.keyKind.value);
        out.push(en.value);
      }
      break;
    case "comprehensionExpr": {
      const c = ek.value;
      out.push(c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result);
      break;
    }
  }
  return out.filter((x): x is Expr => x !== undefined);
}

const literalPlans: Partial<Record<string, ReturnType<typeof plan>>> = {};

/** `duration(s)` / `timestamp(s)` evaluated once; a bad literal is a {@link FilterError}. */
function literal(fn: "duration" | "timestamp", s: string): unknown {
  const p = literalPlans[fn] ??= plan(env(), parse(`${fn}(s)`));
  const v = p({ s } as never);
  if (isCelError(v)) throw new FilterError(v.message);
  return v;
}

/**
 * Deepest nesting of `(`, `[` and `{` outside string literals. A rough scan (it treats a triple
 * quote as three quotes, which pairs up): it only guards the parser's stack.
 */
function bracketNesting(expr: string): number {
  let depth = 0;
  let max = 0;
  let quote = "";
  for (let i = 0; i < expr.length; i++) {
    const ch = expr[i];
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = "";
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === "(" || ch === "[" || ch === "{") {
      max = Math.max(max, ++depth);
    } else if (ch === ")" || ch === "]" || ch === "}") {
      depth--;
    }
  }
  return max;
}

/**
 * Items a comprehension over a value of unknown size is assumed to visit: the largest repeated
 * field of a Node is its labels. A larger list (built from several fields, say) is caught by the
 * run-time budget.
 */
const UNKNOWN_ITEMS = MAX_LABELS;

/** Costs of a sub-expression, in the units of {@link FilterLimits}. */
interface Cost {
  /** Estimated cost of one evaluation, comprehensions running over {@link items} of their range. */
  est: number;
  /** Cost of one evaluation not counting comprehension iterations (charged per node). */
  flat: number;
  /** Estimated number of items if the value is a list or map. */
  items: number;
}

// Name of the budget hook; it cannot be written in a filter (`@` starts no CEL identifier).
const BUDGET_FUNC = "@budget";

/**
 * Checks the size, depth and estimated cost of `root` against `limits` ({@link FilterError}) and
 * wraps each comprehension's loop condition in `@budget(cond, weight)`, which charges the
 * iteration's weight (its condition and step, without nested iterations, which charge
 * themselves) to the active {@link Meter}. Returns the flat cost charged per evaluation.
 */
function instrument(root: Expr, limits: Readonly<FilterLimits>): number {
  let nodes = 0;
  const measure = (e: Expr, depth: number): Cost => {
    if (++nodes > limits.maxNodes) {
      throw new FilterError(`filter too large: more than ${limits.maxNodes} expression nodes`);
    }
    if (depth > limits.maxDepth) {
      throw new FilterError(`filter nested too deeply: more than ${limits.maxDepth} levels`);
    }
    const ek = e.exprKind;
    if (ek.case === "comprehensionExpr") {
      const c = ek.value;
      const part = (x: Expr | undefined) =>
        x ? measure(x, depth + 1) : { est: 0, flat: 0, items: 0 };
      const range = part(c.iterRange);
      const init = part(c.accuInit);
      const cond = part(c.loopCondition);
      const step = part(c.loopStep);
      const result = part(c.result);
      const weight = cond.flat + step.flat + 1;
      if (c.loopCondition) c.loopCondition = budgetCall(c.loopCondition, weight);
      const n = range.items;
      return {
        est: 1 + range.est + init.est + result.est + n * (cond.est + step.est + 1),
        flat: 1 + range.flat + init.flat + result.flat,
        items: n, // map and filter give at most as many items as they visit
      };
    }
    const kids = childrenOf(e).map((k) => measure(k, depth + 1));
    let est = 1 + kids.reduce((a, k) => a + k.est, 0);
    if (ek.case === "callExpr" && ek.value.function === "matches") {
      const p = ek.value.args[0]?.exprKind;
      if (p?.case === "constExpr" && p.value.constantKind.case === "stringValue") {
        est += regexUnits(p.value.constantKind.value, "");
      }
    }
    const flat = 1 + kids.reduce((a, k) => a + k.flat, 0);
    let items = UNKNOWN_ITEMS;
    if (ek.case === "listExpr") items = ek.value.elements.length;
    else if (ek.case === "structExpr") items = ek.value.entries.length;
    else if (ek.case === "callExpr" && ek.value.function === "_+_" && kids.length === 2) {
      items = kids[0].items + kids[1].items;
    } else if (ek.case === "callExpr" && ek.value.function === "_?_:_" && kids.length === 3) {
      items = Math.max(kids[1].items, kids[2].items);
    }
    return { est, flat, items };
  };
  const cost = measure(root, 1);
  if (cost.est > limits.maxCost) {
    throw new FilterError(
      `filter too expensive: estimated cost ${costText(cost.est)} per node exceeds the limit ` +
        `of ${limits.maxCost}`,
    );
  }
  return cost.flat;
}

/** A cost estimate for a message: exact below 10^12, else in powers of ten. */
function costText(n: number): string {
  return n < 1e12 ? String(Math.round(n)) : `≈1e${Math.floor(Math.log10(n))}`;
}

/** `@budget(cond, weight)`, a call expression with `cond`'s id (CEL errors point at the loop). */
function budgetCall(cond: Expr, weight: number): Expr {
  const weightExpr = {
    ...cond,
    exprKind: {
      case: "constExpr",
      value: { constantKind: { case: "int64Value", value: BigInt(weight) } },
    },
  };
  return {
    ...cond,
    exprKind: {
      case: "callExpr",
      value: { function: BUDGET_FUNC, target: undefined, args: [cond, weightExpr] },
    },
  } as unknown as Expr;
}

/**
 * Cost of `text.matches(pattern)`: @bufbuild/cel compiles the pattern (RE2, linear time) on every
 * call, ≈ 5 µs per pattern character, and matching is linear in the text for a given pattern.
 */
function regexUnits(pattern: string, text: string): number {
  return 1 + 16 * pattern.length + Math.ceil((text.length * (1 + pattern.length)) / 16);
}

/** std's `string.matches(string)`, charging {@link regexUnits} to the active meter first. */
function meteredMatches(std: Iterable<CelFunc> | undefined) {
  const impl = [...std ?? []].find((f) => f.target === CelScalar.STRING);
  if (!impl) throw new Error("@bufbuild/cel has no string.matches(string)");
  return celMethod(
    "matches",
    CelScalar.STRING,
    [CelScalar.STRING],
    CelScalar.BOOL,
    function (pattern) {
      if (active && !active.charge(regexUnits(pattern, this))) {
        throw new Error("evaluation budget spent");
      }
      const r = impl.call(0, this, [pattern]);
      if (typeof r !== "boolean") throw new Error(isCelError(r) ? r.message : "matches failed");
      return r;
    },
  );
}

/**
 * Cost spent by one compiled filter: per node (reset by {@link start}) and in total. Evaluation
 * is synchronous, so the meter of the evaluation under way is a module variable that
 * {@link budgetFunc} charges.
 */
class Meter {
  #node = 0;
  #call = 0;
  #exhausted: string | undefined;

  constructor(readonly limits: Readonly<FilterLimits>, readonly flat: number) {}

  /** Starts one node's evaluation, charging the filter's flat cost. */
  start(): void {
    this.check();
    active = this;
    this.#node = 0;
    this.charge(this.flat);
  }

  /** Ends the evaluation under way. */
  stop(): void {
    active = undefined;
  }

  /** Charges `units`; false once a budget is spent (the meter stays exhausted). */
  charge(units: number): boolean {
    this.#node += units;
    this.#call += units;
    if (this.#exhausted) return false;
    if (this.#call > this.limits.callBudget) {
      this.#exhausted = `evaluation exceeds the budget of ${this.limits.callBudget} cost ` +
        `units per call`;
    } else if (this.#node > this.limits.nodeBudget) {
      this.#exhausted = `evaluation of one node exceeds the budget of ${this.limits.nodeBudget} ` +
        `cost units`;
    }
    return !this.#exhausted;
  }

  /** Throws {@link FilterBudgetError} if a budget is spent. */
  check(): void {
    if (this.#exhausted) throw new FilterBudgetError(this.#exhausted);
  }
}

let active: Meter | undefined;

/**
 * `@budget(cond, weight)`: charges an iteration and passes its condition through. Once a budget
 * is spent it fails, which ends the loop; the error may be absorbed by `||` or `&&` on the way
 * up, but every further loop fails at its next iteration, and the filter checks the meter after
 * evaluation.
 */
const budgetFunc = celFunc(
  BUDGET_FUNC,
  [CelScalar.DYN, CelScalar.INT],
  CelScalar.DYN,
  (cond, weight) => {
    if (active && !active.charge(Number(weight))) throw new Error("evaluation budget spent");
    return cond;
  },
);
