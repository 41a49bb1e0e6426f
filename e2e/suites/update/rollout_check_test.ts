import assert from "node:assert/strict";
import { Node_Health } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { judgeRollout, type Look, type Window } from "./rollout_check.ts";

const { HEALTHY, UNKNOWN, HEARTBEAT_TIMEOUT } = Node_Health;
const IDS = ["n0", "n1"];
const GRACE = 10;

function look(atS: number, nodes?: Node_Health[], agents = IDS): Look {
  return {
    atS,
    doneS: atS + 1,
    nodes: nodes?.map((health, i) => ({ id: IDS[i], health })),
    agents,
  };
}

/** n0 (the consensus member) updated 10–100 s, n1 100–200 s. */
const WINDOWS = new Map<string, Window>([["n0", { fromS: 10, toS: 100 }], [
  "n1",
  { fromS: 100, toS: 200 },
]]);

Deno.test("a rollout where the control plane is away while n0 reboots and n1's agent answers passes", () => {
  const v = judgeRollout(
    IDS,
    [
      look(0, [HEALTHY, HEALTHY]),
      look(20, undefined, ["n1"]),
      look(60, [UNKNOWN, UNKNOWN]),
      look(65, [HEALTHY, HEALTHY]),
      look(120, [HEALTHY, HEARTBEAT_TIMEOUT], ["n0"]),
      look(210, [HEALTHY, HEALTHY]),
    ],
    WINDOWS,
    GRACE,
  );
  assert.deepEqual(v, { violations: [], oneAway: true });
});

Deno.test("the other node in HEARTBEAT_TIMEOUT while one is updated is a violation", () => {
  const v = judgeRollout(
    IDS,
    [look(120, [HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT], [])],
    WINDOWS,
    GRACE,
  );
  assert.deepEqual(v.violations, [
    "120 s: n0 is not being updated but GetNodes shows it HEARTBEAT_TIMEOUT",
    "120 s: no node up",
  ]);
});

Deno.test("UNKNOWN after the new leader's grace is a violation even when the agent answers", () => {
  const v = judgeRollout(
    IDS,
    [
      look(20, undefined, ["n1"]),
      look(60, [HEALTHY, HEALTHY]),
      look(75, [HEALTHY, UNKNOWN]),
    ],
    WINDOWS,
    GRACE,
  );
  assert.deepEqual(v.violations, ["75 s: n1 is not being updated but GetNodes shows it UNKNOWN"]);
});

Deno.test("UNKNOWN without a preceding GetNodes failure is a violation", () => {
  const v = judgeRollout(IDS, [look(120, [UNKNOWN, HEALTHY])], WINDOWS, GRACE);
  assert.equal(v.violations.length, 1);
  assert.match(v.violations[0], /n0 is not being updated but GetNodes shows it UNKNOWN/);
});

Deno.test("while GetNodes fails, a node outside its window must answer itself", () => {
  const v = judgeRollout(IDS, [look(20, undefined, [])], WINDOWS, GRACE);
  assert.deepEqual(v.violations, [
    "20 s: n1 is not being updated but GetNodes failed and its agent did not answer",
    "20 s: no node up",
  ]);
});

Deno.test("overlapping update windows are a violation; a rollout with nobody away has no oneAway", () => {
  const v = judgeRollout(
    IDS,
    [look(0, [HEALTHY, HEALTHY])],
    new Map([["n0", { fromS: 10, toS: 100 }], ["n1", { fromS: 50, toS: Infinity }]]),
    GRACE,
  );
  assert.deepEqual(v, { violations: ["n1 was taken in before n0 was back"], oneAway: false });
});
