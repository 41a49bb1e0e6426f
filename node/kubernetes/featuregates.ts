/**
 * Kubernetes feature gates: one set for the apiserver and every kubelet (kubernetes.md §5, the
 * same gates on both, or a field the apiserver keeps is one the kubelet ignores or vice versa).
 * @module
 */

/** Gate name → enabled. */
export const FEATURE_GATES: Readonly<Record<string, boolean>> = {
  // Pods with `hostUsers: false` (beta but off by default in 1.32): the apiserver keeps the field
  // and the kubelet asks containerd (>= 2.0, containerd/build.ts) for a pod user namespace.
  UserNamespacesSupport: true,
};
