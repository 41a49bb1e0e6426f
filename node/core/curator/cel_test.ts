import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  compileNodeFilter,
  FILTER_LIMITS,
  FilterBudgetError,
  FilterError,
  type FilterLimits,
} from "./cel.ts";
import { CEL_HIDDEN_COST, celBomb as bomb, celList as list } from "./testing.ts";
import {
  type Node,
  Node_Health,
  NodeSchema,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { NodeState } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";

/** Three nodes as GetNodes would present them (roles always set, health computed). */
const up = create(NodeSchema, {
  id: "metropolis-00000000000000000000000000000001",
  state: NodeState.UP,
  health: Node_Health.HEALTHY,
  timeSinceHeartbeat: { seconds: 2n, nanos: 500_000_000 },
  roles: { kubernetesWorker: {}, consensusMember: {} },
  status: { externalAddress: "10.1.0.3" },
  labels: { pairs: [{ key: "rack", value: "r1" }, { key: "example.com/zone", value: "" }] },
});
const silent = create(NodeSchema, {
  id: "metropolis-00000000000000000000000000000002",
  state: NodeState.UP,
  health: Node_Health.HEARTBEAT_TIMEOUT,
  // The saturated value of §12.6 for a node this leader never heard from.
  timeSinceHeartbeat: { seconds: 9223372036n, nanos: 854775807 },
  roles: { kubernetesController: {}, consensusMember: {} },
  status: { externalAddress: "10.1.0.4" },
});
const fresh = create(NodeSchema, {
  id: "metropolis-00000000000000000000000000000003",
  state: NodeState.NEW,
  health: Node_Health.UNKNOWN,
  timeSinceHeartbeat: { seconds: 9223372036n, nanos: 854775807 },
  roles: {},
});
const ALL = [up, silent, fresh];

function matching(expr: string): string[] {
  const f = compileNodeFilter(expr);
  return ALL.filter((n) => f(n)).map((n) => n.id.slice(-1));
}

function filterError(f: () => unknown, match: RegExp) {
  assert.throws(f, (e) => {
    assert.ok(e instanceof FilterError, `expected FilterError, got ${e}`);
    assert.match(e.message, match);
    assert.ok(!e.message.includes("\n"), "message is one line");
    return true;
  });
}

Deno.test("empty filter accepts every node", () => {
  assert.deepEqual(matching(""), ["1", "2", "3"]);
  assert.deepEqual(matching("  \n\t "), ["1", "2", "3"]);
});

Deno.test("the documented filters of §12.11", () => {
  assert.deepEqual(matching("node.state == NODE_STATE_NEW"), ["3"]);
  assert.deepEqual(matching("node.state == NODE_STATE_UP"), ["1", "2"]);
  assert.deepEqual(matching(`node.id == "metropolis-00000000000000000000000000000002"`), ["2"]);
  assert.deepEqual(matching("has(node.roles.kubernetes_worker)"), ["1"]);
  assert.deepEqual(matching("has(node.roles.consensus_member)"), ["1", "2"]);
  assert.deepEqual(matching(`node.status.external_address == "10.1.0.3"`), ["1"]);
  // Saturated durations of silent nodes never match a "recent heartbeat" filter.
  assert.deepEqual(matching("node.time_since_heartbeat < duration('6s')"), ["1"]);
  assert.deepEqual(matching("node.time_since_heartbeat > duration('1h')"), ["2", "3"]);
  assert.deepEqual(matching("node.health == HEALTH_HEALTHY"), ["1"]);
  assert.deepEqual(matching("node.health == HEALTH_HEARTBEAT_TIMEOUT"), ["2"]);
  assert.deepEqual(matching("node.health == HEALTH_UNKNOWN"), ["3"]);
});

Deno.test("combinations, qualified enum names, macros and string functions", () => {
  assert.deepEqual(
    matching("node.state == NODE_STATE_UP && has(node.roles.kubernetes_controller)"),
    ["2"],
  );
  assert.deepEqual(
    matching("node.state == NODE_STATE_NEW || node.health == HEALTH_HEALTHY"),
    ["1", "3"],
  );
  assert.deepEqual(
    matching(
      "(node.state == NODE_STATE_UP || node.state == NODE_STATE_STANDBY) && " +
        "!(node.time_since_heartbeat < duration('6s'))",
    ),
    ["2"],
  );
  assert.deepEqual(matching("node.state == metropolis.proto.common.NodeState.NODE_STATE_UP"), [
    "1",
    "2",
  ]);
  assert.deepEqual(matching("node.health == Node.Health.HEALTH_HEALTHY"), ["1"]);
  assert.deepEqual(matching("node.state in [NODE_STATE_NEW, NODE_STATE_STANDBY]"), ["3"]);
  assert.deepEqual(matching("node.labels.pairs.exists(p, p.key == 'rack' && p.value == 'r1')"), [
    "1",
  ]);
  assert.deepEqual(matching("size(node.labels.pairs) == 0"), ["2", "3"]);
  assert.deepEqual(matching("node.status.external_address.startsWith('10.1.0.')"), ["1", "2"]);
  assert.deepEqual(matching("node.id.matches('[23]$')"), ["2", "3"]);
  assert.deepEqual(matching("!has(node.status)"), ["3"]);
});

Deno.test("parse errors are FilterErrors at compile time", () => {
  filterError(() => compileNodeFilter("node.state =="), /<input>:1:/);
  filterError(() => compileNodeFilter("node.state ==\n  \n"), /<input>:/);
  filterError(() => compileNodeFilter("(node.id"), /<input>:1:/);
});

Deno.test("static errors: unknown fields, functions, identifiers, non-bool results", () => {
  filterError(
    () => compileNodeFilter("node.nonexistent == 1"),
    /undefined field 'nonexistent' of metropolis\.proto\.api\.Node/,
  );
  filterError(
    () => compileNodeFilter("node.state == NODE_STATE_UP && node.status.addr == '1'"),
    /undefined field 'addr' of metropolis\.proto\.common\.NodeStatus/,
  );
  filterError(() => compileNodeFilter("has(node.roles.gpu)"), /undefined field 'gpu'/);
  filterError(() => compileNodeFilter("node.id.length == 1"), /'string' does not support/);
  filterError(() => compileNodeFilter("frobnicate(node)"), /undeclared reference to 'frobnicate'/);
  filterError(() => compileNodeFilter("node.state == NODE_STATE_BOGUS"), /NODE_STATE_BOGUS/);
  filterError(() => compileNodeFilter("1"), /must evaluate to bool, got int/);
  filterError(() => compileNodeFilter("node.id"), /must evaluate to bool, got string/);
  filterError(() => compileNodeFilter("node"), /got metropolis\.proto\.api\.Node/);
  filterError(() => compileNodeFilter("[true]"), /got list/);
});

Deno.test("evaluation errors: type errors and dynamic non-bool results", () => {
  filterError(() => matching("node.id + 1 == 2"), /no matching overload for '_\+_'/);
  filterError(
    () => matching("node.time_since_heartbeat < 5.0"),
    /no matching overload.*Duration, double/,
  );
  filterError(() => matching("!node.id"), /no matching overload for '!_'/);
  // A bad duration/timestamp literal is computed once at compile time (see foldNames).
  filterError(() => compileNodeFilter("duration('soon') > node.time_since_heartbeat"), /duration/);
  filterError(() => compileNodeFilter("timestamp('yesterday') != timestamp('x')"), /timestamp/);
  // Only the UP nodes produce an int here; the error surfaces on the first of them.
  filterError(() => matching("node.state == NODE_STATE_UP ? 1 : false"), /bool, got int/);
  // An error on one node fails the whole filter even if other nodes evaluate fine.
  const f = compileNodeFilter("node.labels.pairs[0].key == 'rack'");
  assert.equal(f(up), true);
  filterError(() => f(silent), /index|range|out of bounds/i);
});

Deno.test("a compiled filter is reusable and keeps no reference to the last node", () => {
  const f = compileNodeFilter("node.health == HEALTH_HEALTHY");
  for (let i = 0; i < 3; i++) assert.deepEqual(ALL.map((n: Node) => f(n)), [true, false, false]);
});

Deno.test("folded names: comprehension variables shadow node and the enum constants", () => {
  // `node` and NODE_STATE_UP bound by a comprehension keep their bound meaning.
  assert.deepEqual(matching("[1, 2].exists(node, node == 2)"), ["1", "2", "3"]);
  assert.deepEqual(matching("[3].exists(NODE_STATE_UP, NODE_STATE_UP == 3)"), ["1", "2", "3"]);
  assert.deepEqual(
    matching("node.state == NODE_STATE_UP && [0].all(x, node.state == NODE_STATE_UP)"),
    matching("node.state == NODE_STATE_UP"),
  );
  // The same literal twice, and literals inside macros.
  assert.deepEqual(
    matching(
      "node.time_since_heartbeat < duration('6s') || node.time_since_heartbeat < duration('6s')",
    ),
    ["1"],
  );
  assert.deepEqual(
    matching("[duration('6s')].exists(d, node.time_since_heartbeat < d)"),
    ["1"],
  );
});

function budgetError(f: () => unknown, match: RegExp) {
  assert.throws(f, (e) => {
    assert.ok(e instanceof FilterBudgetError, `expected FilterBudgetError, got ${e}`);
    assert.match(e.message, match);
    return true;
  });
}

Deno.test("cost: nested comprehensions over large lists are rejected before evaluation", () => {
  // Rejected by compileNodeFilter itself, i.e. by the static estimate and not by running the
  // comprehension (how fast that is, is `deno task bench celbomb`'s business, not a unit test's).
  for (const n of [100, 200]) {
    filterError(
      () => compileNodeFilter(bomb(n)),
      /^filter too expensive: estimated cost \d+ per node exceeds the limit of 25000$/,
    );
  }
  // The estimate multiplies through nesting; a single level of the same lists is fine.
  assert.deepEqual(matching(`${list(100)}.all(x, x >= 0)`), ["1", "2", "3"]);
  // Comprehensions over node fields are estimated at the largest labels count (128).
  assert.deepEqual(matching("node.labels.pairs.exists(p, p.key == 'rack')"), ["1"]);
  filterError(
    () =>
      compileNodeFilter(
        "node.labels.pairs.all(p, node.labels.pairs.all(q, node.labels.pairs.all(r, true)))",
      ),
    /too expensive/,
  );
  // Regular expressions are compiled on every call: a long one inside a loop is too expensive.
  filterError(
    () => compileNodeFilter(`${list(50)}.exists(x, node.id.matches('${"a?".repeat(50)}'))`),
    /too expensive/,
  );
});

Deno.test("cost: length, nesting and size limits, with bounded messages", () => {
  filterError(
    () => compileNodeFilter(`node.id == '${"x".repeat(20_000)}'`),
    /^filter too long: 20013 characters, at most 16384 allowed$/,
  );
  // Deep nesting is refused before the parser recurses into it.
  filterError(
    () => compileNodeFilter(`${"(".repeat(5000)}true${")".repeat(5000)}`),
    /^filter nested too deeply: more than 100 levels$/,
  );
  // So is a deep expression without brackets (`+` associates to the left).
  filterError(
    () => compileNodeFilter(`${list(150).slice(1, -1).replaceAll(",", " + ")} > 0`),
    /^filter nested too deeply: more than 100 levels$/,
  );
  // Brackets inside strings do not count.
  assert.deepEqual(matching(`node.id != '${"(".repeat(100)}'`), ["1", "2", "3"]);
  filterError(
    () => compileNodeFilter(Array.from({ length: 1500 }, () => "1>0").join(" && ")),
    /^filter too large: more than 4096 expression nodes$/,
  );
});

Deno.test("cost: a filter that passes the estimate but overruns the per-node budget", () => {
  // Indexing hides a list's size from the estimate (128 assumed, 3,000 visited).
  const hidden = CEL_HIDDEN_COST;
  const f = compileNodeFilter(hidden);
  budgetError(() => f(up), /^evaluation of one node exceeds the budget of 25000 cost units$/);
  // The loop's failure cannot be absorbed by a short-circuiting operator.
  budgetError(() => compileNodeFilter(`${hidden} || true`)(up), /one node exceeds/);
  // Run-time regular expressions are charged by their length.
  budgetError(
    () =>
      compileNodeFilter(
        `[1].exists(x, node.id.matches('${"a?".repeat(500)}' + node.id + '${"b?".repeat(500)}'))`,
      )(up),
    /one node exceeds/,
  );
});

Deno.test("cost: one compiled filter (one GetNodes call) shares a budget over its nodes", () => {
  const limits: FilterLimits = { ...FILTER_LIMITS, callBudget: 1_500 };
  const f = compileNodeFilter(`${list(60)}.exists(x, x == 59)`, limits); // ≈ 600 units per node
  assert.equal(f(up), true);
  assert.equal(f(silent), true);
  budgetError(() => f(fresh), /^evaluation exceeds the budget of 1500 cost units per call$/);
  budgetError(() => f(up), /per call/);
  // A fresh compilation (the next call) has a fresh budget.
  assert.equal(compileNodeFilter(`${list(60)}.exists(x, x == 59)`, limits)(fresh), true);
});
