import assert from "node:assert/strict";
import { BUILTIN_LABEL, builtinObjects, CSI_DRIVER, KINDS, objectPath } from "./objects.ts";

const find = (kind: string, name: string) =>
  builtinObjects().find((o) => o.kind === kind && o.metadata.name === name)!;

Deno.test("builtin objects: exactly the kubernetes.md §10 table, each labelled builtin", () => {
  const objs = builtinObjects();
  assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
    "CSIDriver/dev.monogon.metropolis.vfs",
    "ClusterRole/metropolis:csi-provisioner",
    "ClusterRole/metropolis:netservices",
    "ClusterRoleBinding/metropolis:apiserver-kubelet-client",
    "ClusterRoleBinding/metropolis:csi-provisioner",
    "ClusterRoleBinding/metropolis:netservices",
    "ClusterRoleBinding/metropolis:owner-admin",
    "RuntimeClass/gvisor",
    "RuntimeClass/runc",
    "StorageClass/local",
  ]);
  for (const o of objs) {
    assert.deepEqual(o.metadata.labels, { [BUILTIN_LABEL]: "true" });
    assert.equal(o.apiVersion, KINDS.find((k) => k.kind === o.kind)!.apiVersion);
  }
  // Every call builds new objects: a caller mutating one cannot change the table.
  builtinObjects()[0].metadata.name = "x";
  assert.equal(builtinObjects()[0].metadata.name, "metropolis:csi-provisioner");
});

Deno.test("builtin objects: ClusterRole rules grant what the spec lists", () => {
  const verbs = (role: string, resource: string) =>
    find("ClusterRole", role).rules.filter((r: { resources: string[] }) =>
      r.resources.includes(resource)
    ).flatMap((r: { verbs: string[] }) => r.verbs).sort();
  const events = ["create", "get", "list", "patch", "update", "watch"];
  assert.deepEqual(verbs("metropolis:csi-provisioner", "events"), events);
  assert.deepEqual(verbs("metropolis:csi-provisioner", "storageclasses"), ["get", "list", "watch"]);
  assert.deepEqual(verbs("metropolis:csi-provisioner", "persistentvolumes"), [
    "create",
    "delete",
    "get",
    "list",
    "patch",
    "watch",
  ]);
  assert.deepEqual(verbs("metropolis:csi-provisioner", "persistentvolumeclaims"), [
    "get",
    "list",
    "watch",
  ]);
  assert.deepEqual(verbs("metropolis:csi-provisioner", "persistentvolumeclaims/status"), ["patch"]);
  for (
    const r of ["endpointslices", "services", "nodes", "namespaces", "pods", "networkpolicies"]
  ) {
    assert.deepEqual(verbs("metropolis:netservices", r), ["get", "list", "watch"], r);
  }
  assert.deepEqual(verbs("metropolis:netservices", "events"), events);
  const groups = find("ClusterRole", "metropolis:netservices").rules.map((
    r: { apiGroups: string[]; resources: string[] },
  ) => [r.resources[0], r.apiGroups]);
  assert.deepEqual(groups, [
    ["endpointslices", ["discovery.k8s.io"]],
    ["services", [""]],
    ["networkpolicies", ["networking.k8s.io"]],
    ["events", ["", "events.k8s.io"]],
  ]);
});

Deno.test("builtin objects: bindings name the role and subject of the spec", () => {
  const b = (name: string) => {
    const o = find("ClusterRoleBinding", name);
    assert.equal(o.subjects.length, 1);
    return [o.roleRef.kind, o.roleRef.name, o.subjects[0].kind, o.subjects[0].name];
  };
  assert.deepEqual(b("metropolis:csi-provisioner"), [
    "ClusterRole",
    "metropolis:csi-provisioner",
    "Group",
    "metropolis:csi-provisioner",
  ]);
  assert.deepEqual(b("metropolis:netservices"), [
    "ClusterRole",
    "metropolis:netservices",
    "Group",
    "metropolis:netservices",
  ]);
  assert.deepEqual(b("metropolis:apiserver-kubelet-client"), [
    "ClusterRole",
    "system:kubelet-api-admin",
    "User",
    "metropolis:apiserver-kubelet-client",
  ]);
  assert.deepEqual(b("metropolis:owner-admin"), ["ClusterRole", "cluster-admin", "User", "owner"]);
});

Deno.test("builtin objects: runtime classes, storage class and CSI driver as specified", () => {
  assert.equal(find("RuntimeClass", "runc").handler, "runc");
  assert.equal(find("RuntimeClass", "gvisor").handler, "runsc");
  const { apiVersion: _a, kind: _k, metadata: _m, ...sc } = find("StorageClass", "local");
  assert.deepEqual(sc, {
    provisioner: "dev.monogon.metropolis.vfs",
    reclaimPolicy: "Delete",
    volumeBindingMode: "WaitForFirstConsumer",
    allowVolumeExpansion: true,
    mountOptions: ["exec", "dev", "suid"],
  });
  assert.deepEqual(find("CSIDriver", CSI_DRIVER).spec, {
    attachRequired: false,
    podInfoOnMount: false,
    volumeLifecycleModes: ["Persistent"],
  });
});

Deno.test("objectPath: collection of the kind plus the escaped name", () => {
  assert.equal(
    objectPath("ClusterRole", "metropolis:netservices"),
    "/apis/rbac.authorization.k8s.io/v1/clusterroles/metropolis%3Anetservices",
  );
  assert.throws(() => objectPath("Pod", "x"), /unmanaged kind Pod/);
});
