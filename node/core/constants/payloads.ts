/**
 * Where an image carries its Kubernetes payloads — defined here, below node/core, because the
 * platform (node/core/platform) reports whether they are present and must not import
 * node/kubernetes; node/kubernetes/paths.ts builds the rest of its layout on these.
 */

/** Payload root of the Kubernetes binaries. */
export const KUBERNETES_PAYLOAD = "/kubernetes";
/** Payload root of containerd, runc, CNI plugins and preseeded images. */
export const CONTAINERD_PAYLOAD = "/containerd";
/** The multicall binary (kube-apiserver, kubelet, …): its presence is the payload capability. */
export const KUBE_BINARY = `${KUBERNETES_PAYLOAD}/bin/kube`;
