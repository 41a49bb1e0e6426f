import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { compileNodeFilter, FILTER_LIMITS, FilterBudgetError, type NodeFilter } from "./cel.ts";
import {
  type Node,
  Node_Health,
  NodeSchema,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { NodeState, NodeTPMUsage } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";

/** Nodes covering unset messages, zero and saturated durations, set and unset roles. */
const NODES: Node[] = [
  create(NodeSchema, {
    id: "metropolis-00000000000000000000000000000001",
    state: NodeState.UP,
    health: Node_Health.HEALTHY,
    timeSinceHeartbeat: { seconds: 2n, nanos: 500_000_000 },
    roles: { kubernetesWorker: {}, consensusMember: {} },
    status: {
      externalAddress: "10.1.0.3",
      runningCurator: { port: 7835 },
      version: { release: { major: 1n }, gitInformation: { commitsSinceRelease: 7n } },
    },
    labels: { pairs: [{ key: "rack", value: "r1" }] },
    tpmUsage: NodeTPMUsage.NODE_TPM_USAGE_NOT_PRESENT,
  }),
  create(NodeSchema, {
    id: "metropolis-00000000000000000000000000000002",
    state: NodeState.UP,
    health: Node_Health.HEARTBEAT_TIMEOUT,
    timeSinceHeartbeat: { seconds: 9223372036n, nanos: 854775807 },
    roles: { kubernetesController: {} },
    status: { externalAddress: "10.1.0.4" },
  }),
  create(NodeSchema, {
    id: "metropolis-00000000000000000000000000000003",
    state: NodeState.NEW,
    health: Node_Health.UNKNOWN,
    roles: {},
  }),
  create(NodeSchema, {
    id: "metropolis-00000000000000000000000000000004",
    state: NodeState.STANDBY,
    health: Node_Health.HEALTHY,
    timeSinceHeartbeat: { seconds: 6n, nanos: 0 },
  }),
  create(NodeSchema, {
    id: "metropolis-00000000000000000000000000000005",
    state: NodeState.DECOMMISSIONED,
    timeSinceHeartbeat: { seconds: 5n, nanos: 999_999_999 },
    status: { externalAddress: "", version: {} },
  }),
];

/** Clauses of the subset: each has one statically known type and cannot fail. */
const CLAUSES = [
  "node.state == NODE_STATE_UP",
  "node.state != NODE_STATE_NEW",
  "NODE_STATE_STANDBY == node.state",
  "node.state >= 2",
  "2 < node.state",
  "node.state < NODE_STATE_DECOMMISSIONED",
  "node.health == HEALTH_HEALTHY",
  "node.health != HEALTH_HEARTBEAT_TIMEOUT",
  "node.tpm_usage == 1",
  "node.health == node.state",
  "has(node.roles.kubernetes_worker)",
  "has(node.roles.consensus_member)",
  "has(node.roles)",
  "has(node.status)",
  "has(node.status.external_address)",
  "has(node.status.version.release)",
  "has(node.labels.pairs)",
  "has(node.time_since_heartbeat)",
  "node.time_since_heartbeat < duration('6s')",
  "node.time_since_heartbeat <= duration('6s')",
  "duration('6s') > node.time_since_heartbeat",
  "node.time_since_heartbeat >= duration('5.999999999s')",
  "node.time_since_heartbeat == duration('0s')",
  "node.time_since_heartbeat != duration('2.5s')",
  "node.time_since_heartbeat > duration('1h')",
  "node.id == 'metropolis-00000000000000000000000000000002'",
  "node.status.external_address != ''",
  "node.status.external_address == '10.1.0.3'",
  "node.status.running_curator.port == 7835",
  "node.status.running_curator.port > 0",
  "node.status.version.release.major >= 1",
  "node.status.version.release.major < 1",
  "true",
  "false",
];

/** Filters outside the subset: they must keep @bufbuild/cel's results. */
const OUTSIDE = [
  "node.labels.pairs.exists(p, p.key == 'rack')",
  "node.id.startsWith('metropolis-0')",
  "node.id < 'metropolis-00000000000000000000000000000003'",
  "size(node.labels.pairs) > 0",
  "node.state == 2u",
  "node.state == 2.0",
  "node.state in [1, 3]",
  "node.time_since_heartbeat < duration('6s') ? true : false",
  "1 == 1",
  "node.status.version.release.major == node.state",
  "node.status.version.git_information.commits_since_release < 5u",
  "has(node.status.timestamp) || node.status.timestamp < timestamp('2030-01-01T00:00:00Z')",
];

/** A deterministic pseudo-random generator (xorshift32). */
function rng(seed: number) {
  let x = seed;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

function generate(r: (n: number) => number, depth: number): string {
  if (depth === 0 || r(3) === 0) return CLAUSES[r(CLAUSES.length)];
  const a = generate(r, depth - 1);
  switch (r(4)) {
    case 0:
      return `!(${a})`;
    case 1:
      return `(${a}) && (${generate(r, depth - 1)})`;
    case 2:
      return `(${a}) || (${generate(r, depth - 1)})`;
    default:
      return `${a} && ${generate(r, depth - 1)} || ${generate(r, depth - 1)}`;
  }
}

function results(f: NodeFilter): boolean[] {
  return NODES.map((n) => f(n));
}

Deno.test("the subset's translation gives @bufbuild/cel's result on every node", () => {
  const r = rng(0x9e3779b9);
  const exprs = [...CLAUSES, ...Array.from({ length: 300 }, () => generate(r, 4))];
  for (const expr of exprs) {
    const fast = compileNodeFilter(expr);
    const cel = compileNodeFilter(expr, FILTER_LIMITS, { fast: false });
    assert.equal(fast.fast, true, `${expr} is in the subset`);
    assert.equal(cel.fast, undefined);
    assert.deepEqual(results(fast), results(cel), expr);
  }
});

Deno.test("every clause of the subset both matches and misses some node", () => {
  // Otherwise the comparison above could not tell a translation from a constant.
  for (const expr of CLAUSES.filter((c) => c !== "true" && c !== "false")) {
    const got = results(compileNodeFilter(expr));
    assert.ok(got.includes(true) && got.includes(false), `${expr}: ${got}`);
  }
});

Deno.test("filters outside the subset go to @bufbuild/cel", () => {
  for (const expr of OUTSIDE) {
    const f = compileNodeFilter(expr);
    assert.equal(f.fast, undefined, expr);
    assert.deepEqual(results(f), results(compileNodeFilter(expr, FILTER_LIMITS, { fast: false })));
  }
});

Deno.test("a translated filter spends the call's budget like an evaluated one", () => {
  const limits = { ...FILTER_LIMITS, callBudget: 10 };
  const expr = "node.state == NODE_STATE_UP && node.health == HEALTH_HEALTHY";
  for (const fast of [true, false]) {
    const f = compileNodeFilter(expr, limits, { fast });
    assert.equal(f.fast, fast ? true : undefined);
    f(NODES[0]);
    assert.throws(() => f(NODES[1]), FilterBudgetError);
  }
});
