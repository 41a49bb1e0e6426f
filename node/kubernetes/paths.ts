/**
 * Where the Kubernetes payloads and state live on a node — one definition for the VM image, the
 * namespace node's private root (the launcher binds a payload directory with this layout) and
 * every component module. Network constants of the Kubernetes side are here too.
 *
 * Layout (read-only payloads, as in the full system image):
 * - `/kubernetes/bin/kube`                      the multicall binary (kube-apiserver, kubelet, …)
 * - `/containerd/bin/{containerd,containerd-shim-runc-v2,ctr,runc}`, `/containerd/bin/cni/*`
 * - `/containerd/bin/{runsc,containerd-shim-runsc-v1}` gVisor (RuntimeClass `gvisor`)
 * - `/containerd/preseed/k8s.io/*.tar`          OCI archives imported at containerd start
 * Writable state:
 * - `/ephemeral/kubernetes/<component>/`         certificates, keys, kubeconfigs (mode 0600)
 * - `/ephemeral/containerd/`                     containerd state, socket, CNI config, IPAM
 * - `/data/kubernetes/{kubelet,csi,netservices}/` worker keys; `/data/kubernetes/kubelet` is also
 *   the kubelet's root directory
 * - `/data/containerd`                           images and snapshots
 * - `/data/volumes/<pv>`                         local persistent volumes (CSI)
 */
import { PORTS } from "../core/constants/ports.ts";
import { CONTAINERD_PAYLOAD, KUBE_BINARY, KUBERNETES_PAYLOAD } from "../core/constants/payloads.ts";
import { CSI_DRIVER } from "./reconciler/objects.ts";

export { KUBERNETES_NET as NET, PORTS } from "../core/constants/ports.ts";

export { CONTAINERD_PAYLOAD, KUBERNETES_PAYLOAD } from "../core/constants/payloads.ts";

/** Executables. */
export const BIN = {
  kube: KUBE_BINARY,
  containerd: `${CONTAINERD_PAYLOAD}/bin/containerd`,
  ctr: `${CONTAINERD_PAYLOAD}/bin/ctr`,
  runc: `${CONTAINERD_PAYLOAD}/bin/runc`,
  /** gVisor's runtime and its containerd shim (RuntimeClass `gvisor`, handler `runsc`). */
  runsc: `${CONTAINERD_PAYLOAD}/bin/runsc`,
  runscShim: `${CONTAINERD_PAYLOAD}/bin/containerd-shim-runsc-v1`,
  cniDir: `${CONTAINERD_PAYLOAD}/bin/cni`,
  /** nftables CLI (kube-proxy's nftables mode looks it up on PATH). */
  nftDir: "/usr/sbin",
  /**
   * util-linux `mount` and `umount`: the kubelet execs them by name for every tmpfs, projected and
   * bind volume (its mounter has no syscall path), so a node without them runs no pod.
   */
  mountDir: "/usr/bin",
} as const;

/** Directory of preseeded OCI archives. */
export const PRESEED_DIR = `${CONTAINERD_PAYLOAD}/preseed/k8s.io`;

/** PATH for Kubernetes children: the payload bins first (containerd finds its shim there). */
export const CHILD_PATH =
  `${CONTAINERD_PAYLOAD}/bin:${KUBERNETES_PAYLOAD}/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

/** Per-component directory below /ephemeral for certificates, keys and kubeconfigs. */
export function ephemeralDir(component: string): string {
  return `/ephemeral/kubernetes/${component}`;
}

/** Persistent worker state. */
export const DATA = {
  kubelet: "/data/kubernetes/kubelet",
  kubeletKeys: "/data/kubernetes/kubelet",
  csiKeys: "/data/kubernetes/csi",
  netservicesKeys: "/data/kubernetes/netservices",
  containerd: "/data/containerd",
  volumes: "/data/volumes",
} as const;

/**
 * The CSI node plugin's sockets (kubernetes.md §11), below the kubelet's root: the plugin's own
 * (Identity and Node services) and the one the kubelet's plugin watcher finds in
 * `plugins_registry/` (Registration service).
 */
export const CSI_SOCKETS = {
  plugin: `${DATA.kubelet}/plugins/${CSI_DRIVER}/csi.sock`,
  registration: `${DATA.kubelet}/plugins_registry/${CSI_DRIVER}-reg.sock`,
} as const;

/** Where controller components reach the apiserver, and where worker components do. */
export const APISERVER_LOCAL = `https://127.0.0.1:${PORTS.apiserver}`;
export const APIPROXY_LOCAL = `https://127.0.0.1:${PORTS.apiproxy}`;
