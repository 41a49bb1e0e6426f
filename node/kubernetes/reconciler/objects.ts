/**
 * The builtin Kubernetes objects every Metropolis cluster carries (kubernetes.md §10): RBAC for
 * the agent's own Kubernetes clients and for the owner, the runtime classes, the local storage
 * class and its CSI driver. The reconciler keeps the cluster equal to {@link builtinObjects}.
 * Pure data, so the table can be checked against the spec without an apiserver.
 */
import type { KubeObject } from "../client/client.ts";

/** Label marking objects the reconciler owns; labelled objects not in the list are deleted. */
export const BUILTIN_LABEL = "metropolis.monogon.dev/builtin";

/** One kind the reconciler manages: where its (cluster-scoped) collection lives. */
export interface KindInfo {
  apiVersion: string;
  kind: string;
  /** Collection path, e.g. `/apis/rbac.authorization.k8s.io/v1/clusterroles`. */
  path: string;
}

/** Every kind that appears in the list; the reconciler lists exactly these to find strays. */
export const KINDS: readonly KindInfo[] = [
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    path: "/apis/rbac.authorization.k8s.io/v1/clusterroles",
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
  },
  {
    apiVersion: "node.k8s.io/v1",
    kind: "RuntimeClass",
    path: "/apis/node.k8s.io/v1/runtimeclasses",
  },
  {
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    path: "/apis/storage.k8s.io/v1/storageclasses",
  },
  {
    apiVersion: "storage.k8s.io/v1",
    kind: "CSIDriver",
    path: "/apis/storage.k8s.io/v1/csidrivers",
  },
];

/** The {@link KindInfo} of `kind`; throws for a kind the reconciler does not manage. */
export function kindInfo(kind: string): KindInfo {
  const k = KINDS.find((x) => x.kind === kind);
  if (!k) throw new Error(`reconciler: unmanaged kind ${kind}`);
  return k;
}

/** Path of one object: `<collection>/<name>`. */
export function objectPath(kind: string, name: string): string {
  return `${kindInfo(kind).path}/${encodeURIComponent(name)}`;
}

/** Name of the CSI driver and provisioner of node-local volumes (kubernetes.md §11). */
export const CSI_DRIVER = "dev.monogon.metropolis.vfs";

const RBAC = "rbac.authorization.k8s.io";
const READ = ["get", "list", "watch"];
const EVENTS_WRITE = ["get", "list", "watch", "create", "update", "patch"];

function object(kind: string, name: string, body: Record<string, unknown>): KubeObject {
  return {
    apiVersion: kindInfo(kind).apiVersion,
    kind,
    metadata: { name, labels: { [BUILTIN_LABEL]: "true" } },
    ...body,
  };
}

function rule(apiGroups: string[], resources: string[], verbs: string[]) {
  return { apiGroups, resources, verbs };
}

function binding(name: string, role: string, subject: { kind: "User" | "Group"; name: string }) {
  return object("ClusterRoleBinding", name, {
    roleRef: { apiGroup: RBAC, kind: "ClusterRole", name: role },
    subjects: [{ apiGroup: RBAC, ...subject }],
  });
}

/**
 * The list of kubernetes.md §10, in creation order (roles before their bindings). Events are
 * granted in both the core and the `events.k8s.io` group: the spec names the resource only, and
 * event recorders post to either API depending on their client.
 */
export function builtinObjects(): KubeObject[] {
  const events = rule(["", "events.k8s.io"], ["events"], EVENTS_WRITE);
  return [
    object("ClusterRole", "metropolis:csi-provisioner", {
      rules: [
        events,
        rule(["storage.k8s.io"], ["storageclasses"], READ),
        rule([""], ["persistentvolumes"], [...READ, "create", "patch", "delete"]),
        rule([""], ["persistentvolumeclaims"], READ),
        rule([""], ["persistentvolumeclaims/status"], ["patch"]),
      ],
    }),
    binding("metropolis:csi-provisioner", "metropolis:csi-provisioner", {
      kind: "Group",
      name: "metropolis:csi-provisioner",
    }),
    object("ClusterRole", "metropolis:netservices", {
      rules: [
        rule(["discovery.k8s.io"], ["endpointslices"], READ),
        rule([""], ["services", "nodes", "namespaces", "pods"], READ),
        rule(["networking.k8s.io"], ["networkpolicies"], READ),
        events,
      ],
    }),
    binding("metropolis:netservices", "metropolis:netservices", {
      kind: "Group",
      name: "metropolis:netservices",
    }),
    binding("metropolis:apiserver-kubelet-client", "system:kubelet-api-admin", {
      kind: "User",
      name: "metropolis:apiserver-kubelet-client",
    }),
    binding("metropolis:owner-admin", "cluster-admin", { kind: "User", name: "owner" }),
    object("RuntimeClass", "runc", { handler: "runc" }),
    object("RuntimeClass", "gvisor", { handler: "runsc" }),
    object("StorageClass", "local", {
      provisioner: CSI_DRIVER,
      reclaimPolicy: "Delete",
      volumeBindingMode: "WaitForFirstConsumer",
      allowVolumeExpansion: true,
      mountOptions: ["exec", "dev", "suid"],
    }),
    object("CSIDriver", CSI_DRIVER, {
      spec: {
        attachRequired: false,
        podInfoOnMount: false,
        volumeLifecycleModes: ["Persistent"],
      },
    }),
  ];
}
