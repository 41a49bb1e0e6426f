/**
 * Certificate profiles of the Kubernetes PKI (kubernetes.md §4) as templates for
 * node/base/pki's `issueCertificate`/`CA.ensure`. All keys are Ed25519 except the
 * service-account key (RSA-2048, generated separately).
 */
import type { CertTemplate } from "../../base/pki/mod.ts";

const CA_USAGE: CertTemplate["keyUsage"] = ["certSign", "crlSign", "digitalSignature"];

function client(commonName: string, organization?: string[]): CertTemplate {
  return {
    commonName,
    ...(organization ? { organization } : {}),
    keyUsage: ["digitalSignature"],
    extKeyUsage: ["clientAuth"],
    isCA: false,
  };
}

function server(dnsNames: string[], ipAddresses: string[] = []): CertTemplate {
  return {
    dnsNames,
    ipAddresses,
    keyUsage: ["digitalSignature"],
    extKeyUsage: ["serverAuth"],
    isCA: false,
  };
}

/** `id-ca`: the CA of all Kubernetes identities. */
export const ID_CA: CertTemplate = {
  commonName: "Metropolis Kubernetes ID CA",
  keyUsage: CA_USAGE,
  isCA: true,
};

/** `aggregation-ca`: the request-header CA. */
export const AGGREGATION_CA: CertTemplate = {
  commonName: "Metropolis OpenAPI Aggregation CA",
  keyUsage: CA_USAGE,
  isCA: true,
};

/** DNS SANs of the apiserver serving certificate. */
export const APISERVER_DNS = [
  "kubernetes",
  "kubernetes.default",
  "kubernetes.default.svc",
  "kubernetes.default.svc.cluster.local",
  "localhost",
  "metropolis-kube-apiserver",
];

/**
 * `apiserver` serving certificate: the fixed SANs plus `extraIps` (e.g. the node address a
 * client dials directly).
 */
export function apiserverServing(extraIps: string[] = []): CertTemplate {
  return server(APISERVER_DNS, ["10.224.0.1", "127.0.0.1", ...extraIps]);
}

/** Fixed-name profiles of id-ca and aggregation-ca, by certificate name. */
export const PROFILES = {
  "apiserver-kubelet-client": client("metropolis:apiserver-kubelet-client"),
  "controller-manager-client": client("system:kube-controller-manager"),
  "controller-manager": server(["kube-controller-manager.local"]),
  "scheduler-client": client("system:kube-scheduler"),
  "scheduler": server(["kube-scheduler.local"]),
  "master": client("metropolis:master", ["system:masters"]),
  "front-proxy-client": client("front-proxy-client"),
  "metropolis-auth-proxy-client": client("metropolis-auth-proxy-client"),
} as const satisfies Record<string, CertTemplate>;

/** Kubelet serving certificate of a worker: DNS SAN = node ID, plus the node's IPs. */
export function kubeletServing(nodeId: string, ipAddresses: string[] = []): CertTemplate {
  return server([nodeId], ipAddresses);
}

/** Kubelet client certificate: `system:node:<node ID>` in `system:nodes`. */
export function kubeletClient(nodeId: string): CertTemplate {
  return client(`system:node:${nodeId}`, ["system:nodes"]);
}

/** CSI provisioner client certificate of a worker. */
export function csiProvisionerClient(nodeId: string): CertTemplate {
  return client(`metropolis:csi-provisioner:${nodeId}`, ["metropolis:csi-provisioner"]);
}

/** netservices client certificate (kube-proxy, DNS, clusternet, npc) of a worker. */
export function netservicesClient(nodeId: string): CertTemplate {
  return client(`metropolis:netservices:${nodeId}`, ["metropolis:netservices"]);
}
