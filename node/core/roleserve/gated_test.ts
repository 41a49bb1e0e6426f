import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  type NodeRoles,
  NodeRolesSchema,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { Value } from "../../base/event/value.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { type Context, run, signal, Supervisor } from "../../base/supervisor/supervisor.ts";
import { RecordingTiming, waitUntil } from "../../base/supervisor/testing.ts";
import { roleGated } from "./gated.ts";

const worker = create(NodeRolesSchema, { kubernetesWorker: {} });
const none = create(NodeRolesSchema, {});

/** A gate over `roles` whose body starts one child that counts its runs and stops. */
function harness(pre?: Value<string | undefined>, unable?: () => string | undefined) {
  const roles = new Value<NodeRoles | undefined>(undefined);
  const seen = { starts: 0, stops: 0, pre: [] as string[] };
  const gate = roleGated(
    roles,
    ["KubernetesWorker"],
    (ctx: Context, p: string) => {
      seen.pre.push(String(p));
      run(ctx, "svc", async (c) => {
        seen.starts++;
        signal(c, "healthy");
        await new Promise<void>((r) => c.signal.addEventListener("abort", () => r()));
        seen.stops++;
      });
      return Promise.resolve();
    },
    pre ? { what: "the thing", value: pre } : undefined,
    unable,
  );
  const s = new Supervisor(new LogTree(), async (ctx) => {
    run(ctx, "gate", gate);
    signal(ctx, "healthy");
    await new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r()));
  }, { timing: new RecordingTiming(), onRootExit: () => {}, rootExitDelayMs: 0 });
  return { roles, seen, s };
}

Deno.test("role gate: nothing runs until the role arrives, then the body's children run", async () => {
  const { roles, seen, s } = harness();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(seen.starts, 0);
  roles.set(none);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(seen.starts, 0);
  roles.set(worker);
  await waitUntil(() => s.state("root.gate") === "HEALTHY" && seen.starts === 1, "gate healthy");
  await s.stop();
});

Deno.test("role gate: removing the role stops the children; adding it again restarts them", async () => {
  const { roles, seen, s } = harness();
  roles.set(worker);
  await waitUntil(() => seen.starts === 1, "first start");
  roles.set(none);
  await waitUntil(() => seen.stops === 1, "children stopped");
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(seen.starts, 1, "restarted gate waits for the role instead of starting");
  roles.set(worker);
  await waitUntil(() => seen.starts === 2, "second start");
  await s.stop();
});

Deno.test("role gate: waits for the precondition and stops when it goes away", async () => {
  const pre = new Value<string | undefined>(undefined);
  const { roles, seen, s } = harness(pre);
  roles.set(worker);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(seen.starts, 0, "no start without the precondition");
  pre.set("etcd");
  await waitUntil(() => seen.starts === 1, "start with precondition");
  assert.deepEqual(seen.pre, ["etcd"]);
  pre.set(undefined);
  await waitUntil(() => seen.stops === 1, "stopped when the precondition went");
  await s.stop();
});

Deno.test("role gate: a node unable to run the role logs why once per arrival, stays Healthy, never restarts", async () => {
  const timing = new RecordingTiming();
  const roles = new Value<NodeRoles | undefined>(undefined);
  let starts = 0;
  const gate = roleGated(
    roles,
    ["KubernetesWorker"],
    () => {
      starts++;
      return Promise.resolve();
    },
    undefined,
    () => "this image carries no payloads",
  );
  const tree = new LogTree();
  const s = new Supervisor(tree, async (ctx) => {
    run(ctx, "gate", gate);
    signal(ctx, "healthy");
    await new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r()));
  }, { timing, onRootExit: () => {}, rootExitDelayMs: 0 });
  const lines = () =>
    tree.read("root.gate", { backlog: "all" }).backlog.flatMap((e) => e.leveled?.lines ?? [])
      .filter((m) => m.includes("not started"));
  roles.set(worker);
  await waitUntil(() => s.state("root.gate") === "HEALTHY", "gate healthy while unable");
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(lines(), [
    "KubernetesWorker held but this image carries no payloads: not started",
  ]);
  roles.set(none);
  await new Promise((r) => setTimeout(r, 20));
  roles.set(worker);
  await waitUntil(() => lines().length === 2, "logged again when the role came back");
  assert.equal(starts, 0, "the body never ran");
  assert.deepEqual(timing.delays, [], "no restart scheduled");
  assert.equal(s.state("root.gate"), "HEALTHY");
  await s.stop();
});
