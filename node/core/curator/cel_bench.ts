/**
 * `deno bench -A node/core/curator/cel_bench.ts`: cost of the GetNodes filter (§12.11).
 * One iteration evaluates a 3-clause filter over 10,000 Node messages, so the per-node cost is
 * the reported time / 10,000. Compilation (parse + static check + plan) is measured separately
 * because GetNodes does it once per call.
 */
import { create } from "@bufbuild/protobuf";
import { compileNodeFilter, FILTER_LIMITS } from "./cel.ts";
import { Node_Health, NodeSchema } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { NodeState } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";

const N = 10_000;
const STATES = [NodeState.NEW, NodeState.STANDBY, NodeState.UP, NodeState.DECOMMISSIONED];
const nodes = Array.from({ length: N }, (_, i) =>
  create(NodeSchema, {
    id: `metropolis-${i.toString(16).padStart(32, "0")}`,
    state: STATES[i % 4],
    health: i % 3 === 0 ? Node_Health.HEALTHY : Node_Health.HEARTBEAT_TIMEOUT,
    timeSinceHeartbeat: { seconds: BigInt(i % 12) },
    roles: i % 2 === 0 ? { kubernetesWorker: {} } : {},
    status: { externalAddress: `10.1.${(i >> 8) & 255}.${i & 255}` },
    labels: { pairs: [{ key: "rack", value: `r${i % 8}` }] },
  }));

const FILTER = "node.state == NODE_STATE_UP && has(node.roles.kubernetes_worker) && " +
  "node.time_since_heartbeat < duration('6s')";

Deno.bench("compile 3-clause filter", () => {
  compileNodeFilter(FILTER);
});

// Each filter below is evaluated over many bench iterations, not one call: no per-call budget.
const REUSED = { ...FILTER_LIMITS, callBudget: Infinity };
const filter = compileNodeFilter(FILTER, REUSED);
let sink = 0;
Deno.bench(`evaluate 3-clause filter over ${N} nodes`, () => {
  let n = 0;
  for (const node of nodes) if (filter(node)) n++;
  sink += n;
});

// The first clause is false for 3 of 4 nodes: && short-circuits. This one evaluates all three.
const FULL = "node.health != HEALTH_UNKNOWN && node.status.external_address != '' && " +
  "node.time_since_heartbeat < duration('1h')";
const full = compileNodeFilter(FULL, REUSED);
Deno.bench(`evaluate 3 true clauses over ${N} nodes`, () => {
  let n = 0;
  for (const node of nodes) if (full(node)) n++;
  sink += n;
});

const accept = compileNodeFilter("");
Deno.bench(`empty filter over ${N} nodes (baseline)`, () => {
  let n = 0;
  for (const node of nodes) if (accept(node)) n++;
  sink += n;
});

globalThis.addEventListener("unload", () => {
  if (sink < 0) console.log(sink); // keeps the loops observable
});
