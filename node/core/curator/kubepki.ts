/**
 * The one table of Kubernetes certificate profiles (kubernetes.md §4): the two CAs, the fixed
 * controller certificates and the worker certificates handed out by `Curator.IssueCertificate`.
 * The curator issues worker certificates from here and the controller's PKI
 * (node/kubernetes/pki/kubepki.ts) issues everything else from here; it lives in node/core because
 * node/kubernetes may import node/core, not the other way round.
 *
 * Shape of every profile (one decision instead of two that disagreed):
 * - Leaves: keyUsage digitalSignature only (RFC 8410: an Ed25519 key cannot encipher, so
 *   keyEncipherment would be a lie), one EKU (serverAuth or clientAuth), and a
 *   SubjectKeyIdentifier, so the AuthorityKeyIdentifier of certificates below them and chain
 *   building by key ID work for every issued certificate, as upstream issues them.
 * - CAs: certSign + crlSign + digitalSignature, EKU clientAuth + serverAuth (the shape of the
 *   cluster CA in node/core/identity, which verifiers that check EKUs along the chain accept for
 *   both kinds of leaves), SubjectKeyIdentifier.
 */
import { CA } from "../../base/pki/ca.ts";
import type { CertTemplate } from "../../base/pki/cert.ts";
import type { PkiStorage } from "../../base/pki/storage.ts";
import type { KV } from "../consensus/kv.ts";
import { EtcdPkiStorage } from "../consensus/pkistorage.ts";

/** etcd namespace (from the root) of the Kubernetes PKI. */
export const KUBE_PKI_NAMESPACE = "kubernetes/kube-pki/";

function ca(commonName: string): CertTemplate {
  return {
    commonName,
    isCA: true,
    keyUsage: ["certSign", "crlSign", "digitalSignature"],
    extKeyUsage: ["clientAuth", "serverAuth"],
    subjectKeyId: true,
  };
}

/** A client identity: CN = Kubernetes user, O = Kubernetes groups. */
function client(commonName: string, organization?: string[]): CertTemplate {
  return {
    commonName,
    ...(organization ? { organization } : {}),
    isCA: false,
    keyUsage: ["digitalSignature"],
    extKeyUsage: ["clientAuth"],
    subjectKeyId: true,
  };
}

/** A serving certificate: empty subject, names only as SANs. */
function server(dnsNames: string[], ipAddresses: string[] = []): CertTemplate {
  return {
    dnsNames,
    ...(ipAddresses.length ? { ipAddresses } : {}),
    isCA: false,
    keyUsage: ["digitalSignature"],
    extKeyUsage: ["serverAuth"],
    subjectKeyId: true,
  };
}

/** The Kubernetes identity CA `id-ca`: issues every Kubernetes identity. */
export const KUBE_ID_CA_TEMPLATE: CertTemplate = ca("Metropolis Kubernetes ID CA");

/** The request-header CA `aggregation-ca` (front proxy, authproxy → apiserver). */
export const KUBE_AGGREGATION_CA_TEMPLATE: CertTemplate = ca("Metropolis OpenAPI Aggregation CA");

/** Names of the two Kubernetes CAs (storage keys). */
export type KubeCAName = "id-ca" | "aggregation-ca";

/** Template of each Kubernetes CA by name. */
export const KUBE_CA_TEMPLATES: Record<KubeCAName, CertTemplate> = {
  "id-ca": KUBE_ID_CA_TEMPLATE,
  "aggregation-ca": KUBE_AGGREGATION_CA_TEMPLATE,
};

/** DNS SANs of the apiserver serving certificate. */
export const APISERVER_DNS: readonly string[] = [
  "kubernetes",
  "kubernetes.default",
  "kubernetes.default.svc",
  "kubernetes.default.svc.cluster.local",
  "localhost",
  "metropolis-kube-apiserver",
];

/** IP SANs of the apiserver serving certificate: `kubernetes.default` and loopback. */
export const APISERVER_IPS: readonly string[] = ["10.224.0.1", "127.0.0.1"];

/**
 * The apiserver serving certificate. The controllers use the fixed SANs only (clients reach it
 * as 127.0.0.1, 10.224.0.1 or a service name; workers through their apiproxy on 127.0.0.1);
 * `extraIps` is for harnesses that dial an address directly.
 */
export function apiserverServing(extraIps: string[] = []): CertTemplate {
  return server([...APISERVER_DNS], [...APISERVER_IPS, ...extraIps]);
}

/** A fixed controller certificate: its issuer and profile. */
export interface ControllerProfile {
  issuer: KubeCAName;
  template: CertTemplate;
}

/** The fixed certificates of the controllers, by storage name (kubernetes.md §4, first table). */
export const CONTROLLER_PROFILES = {
  "apiserver": { issuer: "id-ca", template: apiserverServing() },
  "apiserver-kubelet-client": {
    issuer: "id-ca",
    template: client("metropolis:apiserver-kubelet-client"),
  },
  "controller-manager-client": {
    issuer: "id-ca",
    template: client("system:kube-controller-manager"),
  },
  "controller-manager": { issuer: "id-ca", template: server(["kube-controller-manager.local"]) },
  "scheduler-client": { issuer: "id-ca", template: client("system:kube-scheduler") },
  "scheduler": { issuer: "id-ca", template: server(["kube-scheduler.local"]) },
  "master": { issuer: "id-ca", template: client("metropolis:master", ["system:masters"]) },
  "front-proxy-client": { issuer: "aggregation-ca", template: client("front-proxy-client") },
  "metropolis-auth-proxy-client": {
    issuer: "aggregation-ca",
    template: client("metropolis-auth-proxy-client"),
  },
} as const satisfies Record<string, ControllerProfile>;

/** Storage name of a fixed controller certificate. */
export type ControllerCertName = keyof typeof CONTROLLER_PROFILES;

/** Worker certificate profiles for node `id` (kubernetes.md §4, second table). */
export function workerTemplates(id: string): {
  kubeletServer: CertTemplate;
  kubeletClient: CertTemplate;
  csiProvisioner: CertTemplate;
  netservices: CertTemplate;
} {
  return {
    kubeletServer: server([id]),
    kubeletClient: client(`system:node:${id}`, ["system:nodes"]),
    csiProvisioner: client(`metropolis:csi-provisioner:${id}`, ["metropolis:csi-provisioner"]),
    netservices: client(`metropolis:netservices:${id}`, ["metropolis:netservices"]),
  };
}

/** The Kubernetes CA `name` over a PKI storage namespace (`kubernetes/kube-pki/`). */
export function kubeCA(storage: PkiStorage, name: KubeCAName): CA {
  return new CA({ storage, name, template: KUBE_CA_TEMPLATES[name] });
}

/** The storage of the Kubernetes PKI in the root KV. */
export function kubePkiStorage(rootKV: KV): PkiStorage {
  return new EtcdPkiStorage(rootKV.namespace(KUBE_PKI_NAMESPACE));
}

/** The `id-ca` over the root KV. */
export function kubeIdCA(rootKV: KV): CA {
  return kubeCA(kubePkiStorage(rootKV), "id-ca");
}
