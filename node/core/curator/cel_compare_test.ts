import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { compileNodeFilter, FilterError } from "./cel.ts";
import { typedOrderName } from "./cel_compare.ts";
import { NodeSchema } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";

const OPS = ["<", "<=", ">", ">="];

/** Nodes whose time_since_heartbeat straddles 6 s by seconds and by nanos. */
const nodes = [
  { seconds: 5n, nanos: 999_999_999 },
  { seconds: 6n, nanos: 0 },
  { seconds: 6n, nanos: 1 },
  { seconds: 0n, nanos: 0 },
  { seconds: 9223372036n, nanos: 854775807 },
].map((d) => create(NodeSchema, { timeSinceHeartbeat: d }));

/** Indices of `nodes` matching `expr`. */
function matching(expr: string): number[] {
  const f = compileNodeFilter(expr);
  return nodes.flatMap((n, i) => f(n) ? [i] : []);
}

Deno.test("typed duration comparisons match the standard overloads", () => {
  for (const op of OPS) {
    for (const lit of ["duration('6s')", "duration('-1s')", "duration('5.999999999s')"]) {
      // dyn() hides the type from the static pass: the standard overloads decide.
      const typed = matching(`node.time_since_heartbeat ${op} ${lit}`);
      const standard = matching(`dyn(node.time_since_heartbeat) ${op} ${lit}`);
      assert.deepEqual(typed, standard, `${op} ${lit}`);
      assert.deepEqual(
        matching(`${lit} ${op} node.time_since_heartbeat`),
        matching(`${lit} ${op} dyn(node.time_since_heartbeat)`),
        `${lit} ${op}`,
      );
    }
  }
  // Spot values, so that agreeing with the standard overloads is not agreeing on nothing.
  assert.deepEqual(matching("node.time_since_heartbeat < duration('6s')"), [0, 3]);
  assert.deepEqual(matching("node.time_since_heartbeat >= duration('6s')"), [1, 2, 4]);
});

Deno.test("typed timestamp comparisons match the standard overloads", () => {
  const a = "timestamp('2026-01-01T00:00:00Z')";
  const b = "timestamp('2026-01-01T00:00:00.5Z')";
  for (const op of OPS) {
    for (const [l, r] of [[a, b], [b, a], [a, a]]) {
      const want = compileNodeFilter(`dyn(${l}) ${op} ${r}`)(nodes[0]);
      assert.equal(compileNodeFilter(`${l} ${op} ${r}`)(nodes[0]), want, `${l} ${op} ${r}`);
    }
  }
  assert.equal(compileNodeFilter(`${a} < ${b}`)(nodes[0]), true);
});

Deno.test("only orderings of one known type get a typed function", () => {
  assert.equal(typedOrderName("_<_", "duration"), "@duration_<_");
  assert.equal(typedOrderName("_>=_", "timestamp"), "@timestamp_>=_");
  assert.equal(typedOrderName("_==_", "duration"), undefined);
  assert.equal(typedOrderName("_<_", "int"), undefined);
  // Mixed operands still fail as before, at evaluation.
  assert.throws(
    () =>
      compileNodeFilter("node.time_since_heartbeat < timestamp('2026-01-01T00:00:00Z')")(
        nodes[0],
      ),
    FilterError,
  );
  // duration() has a known result type now: a filter that is only a duration is refused.
  assert.throws(() => compileNodeFilter("duration('1s')"), /must evaluate to bool, got duration/);
});
