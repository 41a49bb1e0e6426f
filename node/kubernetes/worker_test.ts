import assert from "node:assert/strict";
import type { KnownNode } from "../core/roleserve/context.ts";
import { controllerTargets } from "./worker.ts";

Deno.test("worker: apiproxy targets are the controllers with an address, port 6443, sorted", () => {
  const n = (id: string, o: Partial<KnownNode>): [string, KnownNode] => [
    id,
    { id, consensusMember: false, runningCurator: false, ...o },
  ];
  const nodes = new Map([
    n("c2", { kubernetesController: true, address: "10.1.0.3" }),
    n("c1", { kubernetesController: true, address: "10.1.0.2" }),
    n("c3", { kubernetesController: true }), // no address yet
    n("w1", { kubernetesWorker: true, address: "10.1.0.4" }),
  ]);
  assert.deepEqual(controllerTargets(nodes), ["10.1.0.2:6443", "10.1.0.3:6443"]);
  assert.deepEqual(controllerTargets(new Map()), []);
});
