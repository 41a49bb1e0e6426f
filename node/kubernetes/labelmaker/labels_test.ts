import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { ClusterConfigurationSchema } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import type { KnownNode } from "../../core/roleserve/context.ts";
import {
  applyBody,
  compilePatterns,
  managedLabels,
  needsApply,
  ownedLabelKeys,
  rulesFromConfiguration,
} from "./labels.ts";

const node = (o: Partial<KnownNode> = {}): KnownNode => ({
  id: "metropolis-abc",
  consensusMember: false,
  runningCurator: false,
  ...o,
});

const applied = (
  labels: Record<string, string>,
  owned: string[],
  manager = "metropolis-labelmaker",
) => ({
  metadata: {
    name: "metropolis-abc",
    labels,
    managedFields: [{
      manager,
      operation: "Apply",
      fieldsType: "FieldsV1",
      fieldsV1: {
        "f:metadata": { "f:labels": Object.fromEntries(owned.map((k) => [`f:${k}`, {}])) },
      },
    }],
  },
});

Deno.test("managedLabels: one node-role label per role held", () => {
  assert.deepEqual(managedLabels(node(), []), {});
  assert.deepEqual(
    managedLabels(
      node({ consensusMember: true, kubernetesController: true, kubernetesWorker: true }),
      [],
    ),
    {
      "node-role.kubernetes.io/ConsensusMember": "",
      "node-role.kubernetes.io/KubernetesController": "",
      "node-role.kubernetes.io/KubernetesWorker": "",
    },
  );
  assert.deepEqual(managedLabels(node({ kubernetesWorker: true }), []), {
    "node-role.kubernetes.io/KubernetesWorker": "",
  });
});

Deno.test("managedLabels: Metropolis labels whose key matches any rule, unanchored", () => {
  const n = node({
    kubernetesWorker: true,
    labels: { "example.com/zone": "a", "example.com/rack": "r1", "tier": "gold", "other": "x" },
  });
  const patterns = compilePatterns(["^example\\.com/zone$", "ier"], () => {});
  assert.deepEqual(managedLabels(n, patterns), {
    "example.com/zone": "a",
    "tier": "gold",
    "node-role.kubernetes.io/KubernetesWorker": "",
  });
  assert.deepEqual(managedLabels(n, []), { "node-role.kubernetes.io/KubernetesWorker": "" });
  // A stateful (global) pattern gives the same answer on every key.
  assert.deepEqual(
    Object.keys(managedLabels(n, [/example/g])),
    ["example.com/zone", "example.com/rack", "node-role.kubernetes.io/KubernetesWorker"],
  );
});

Deno.test("compilePatterns: a rule JavaScript cannot compile is skipped and reported", () => {
  const problems: string[] = [];
  const p = compilePatterns(["^a", "(?P<x>b)", "c"], (m) => problems.push(m));
  assert.deepEqual(p.map((r) => r.source), ["^a", "c"]);
  assert.equal(problems.length, 1);
  assert.match(problems[0], /\(\?P<x>b\).*skipped/);
});

Deno.test("rulesFromConfiguration: the regexps of node_labels_to_synchronize", () => {
  const c = create(ClusterConfigurationSchema, {
    kubernetes: { nodeLabelsToSynchronize: [{ regexp: "^a" }, { regexp: "b$" }] },
  });
  assert.deepEqual(rulesFromConfiguration(toBinary(ClusterConfigurationSchema, c)), ["^a", "b$"]);
  assert.deepEqual(rulesFromConfiguration(undefined), []);
  assert.deepEqual(
    rulesFromConfiguration(
      toBinary(ClusterConfigurationSchema, create(ClusterConfigurationSchema)),
    ),
    [],
  );
});

Deno.test("ownedLabelKeys: the labels of the labelmaker's Apply entry only", () => {
  const n = applied({ a: "1", b: "2" }, ["a"]);
  n.metadata.managedFields.push(applied({}, ["b"], "kubectl").metadata.managedFields[0]);
  assert.deepEqual(ownedLabelKeys(n), ["a"]);
  assert.deepEqual(ownedLabelKeys({ metadata: { name: "x" } }), []);
});

Deno.test("needsApply: missing or changed wanted labels and owned leftovers; others' labels ignored", () => {
  const want = { "node-role.kubernetes.io/KubernetesWorker": "", "zone": "a" };
  const upToDate = applied({ ...want, "kubernetes.io/hostname": "h" }, Object.keys(want));
  assert.equal(needsApply(upToDate, want), false);
  assert.equal(needsApply(applied({ ...want, zone: "b" }, Object.keys(want)), want), true);
  assert.equal(
    needsApply({ metadata: { name: "x", labels: { "kubernetes.io/hostname": "h" } } }, want),
    true,
  );
  // A role that was removed: the label is still ours on the Node.
  const stale = applied({ ...want, "node-role.kubernetes.io/KubernetesController": "" }, [
    ...Object.keys(want),
    "node-role.kubernetes.io/KubernetesController",
  ]);
  assert.equal(needsApply(stale, want), true);
  // The same label set by someone else is not ours to remove.
  assert.equal(needsApply(applied({ ...want, foo: "x" }, Object.keys(want)), want), false);
});

Deno.test("applyBody: a Node apply carrying only name and labels", () => {
  assert.deepEqual(applyBody("metropolis-abc", { a: "" }), {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "metropolis-abc", labels: { a: "" } },
  });
});
