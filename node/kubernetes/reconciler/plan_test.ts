import assert from "node:assert/strict";
import type { KubeObject } from "../client/client.ts";
import { BUILTIN_LABEL, builtinObjects } from "./objects.ts";
import { differs, plan } from "./plan.ts";

/** What a LIST returns for `objs`: no type meta, plus server-set metadata and defaults. */
function listed(objs: KubeObject[]): Record<string, KubeObject[]> {
  const out: Record<string, KubeObject[]> = {};
  for (const { apiVersion: _a, kind, ...rest } of structuredClone(objs)) {
    rest.metadata = { ...rest.metadata, uid: "u", resourceVersion: "7", managedFields: [] };
    if (kind === "CSIDriver") {
      rest.spec = { ...rest.spec, fsGroupPolicy: "ReadWriteOnceWithFSType" };
    }
    (out[kind] ??= []).push(rest);
  }
  return out;
}

Deno.test("plan: nothing to do when the cluster holds the list (server defaults ignored)", () => {
  assert.deepEqual(plan(builtinObjects(), listed(builtinObjects())), []);
});

Deno.test("plan: an empty cluster gets every object created, in list order", () => {
  const a = plan(builtinObjects(), {});
  assert.deepEqual(a.map((x) => x.op), builtinObjects().map(() => "create"));
  assert.deepEqual(
    a.map((x) => x.op !== "delete" && x.object.metadata.name),
    builtinObjects().map((o) => o.metadata.name),
  );
});

Deno.test("plan: edited owned fields, an added rule field and a removed label are updated", () => {
  const have = listed(builtinObjects());
  have.ClusterRole[0].rules[0].verbs = ["get"];
  have.ClusterRole[1].rules[1].resourceNames = ["x"];
  delete have.StorageClass[0].metadata.labels[BUILTIN_LABEL];
  have.RuntimeClass[0].metadata.labels.extra = "kept"; // someone else's label: no change
  const a = plan(builtinObjects(), have);
  assert.deepEqual(a.map((x) => x.op !== "delete" && [x.op, x.object.metadata.name]), [
    ["update", "metropolis:csi-provisioner"],
    ["update", "metropolis:netservices"],
    ["update", "local"],
  ]);
});

Deno.test("plan: labelled strays are deleted, unlabelled objects are left alone", () => {
  const have = listed(builtinObjects());
  have.ClusterRole.push(
    { metadata: { name: "metropolis:old", labels: { [BUILTIN_LABEL]: "true" } } },
    { metadata: { name: "cluster-admin", labels: { "kubernetes.io/bootstrapping": "x" } } },
    { metadata: { name: "user-role" } },
  );
  have.RuntimeClass.push({ metadata: { name: "kata", labels: { [BUILTIN_LABEL]: "true" } } });
  assert.deepEqual(plan(builtinObjects(), have), [
    { op: "delete", kind: "ClusterRole", name: "metropolis:old" },
    { op: "delete", kind: "RuntimeClass", name: "kata" },
  ]);
});

Deno.test("differs: objects compare wanted keys only; arrays element by element exactly", () => {
  assert.equal(differs({ a: 1 }, { a: 1, b: 2 }), false);
  assert.equal(differs({ a: 1 }, { a: 2 }), true);
  assert.equal(differs({ a: { b: 1 } }, { a: null }), true);
  assert.equal(differs({ a: [1, 2] }, { a: [1, 2] }), false);
  assert.equal(differs({ a: [1, 2] }, { a: [2, 1] }), true);
  assert.equal(differs({ a: [1] }, { a: [1, 1] }), true);
  assert.equal(differs({ a: [{ x: 1 }] }, { a: [{ x: 1, y: 2 }] }), true);
  assert.equal(differs({ a: false }, {}), true);
});
