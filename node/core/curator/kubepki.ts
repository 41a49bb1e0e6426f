/**
 * The part of the Kubernetes PKI the curator issues from (kubernetes.md §4): the identity CA
 * `id-ca` in etcd namespace `kubernetes/kube-pki/` and the worker certificate profiles handed out
 * by `Curator.IssueCertificate`. The Kubernetes controller services use the same CA definition
 * from here (node/kubernetes may import node/core, not the other way round).
 */
import { CA } from "../../base/pki/ca.ts";
import type { CertTemplate } from "../../base/pki/cert.ts";
import type { KV } from "../consensus/kv.ts";
import { EtcdPkiStorage } from "../consensus/pkistorage.ts";

/** etcd namespace (from the root) of the Kubernetes PKI. */
export const KUBE_PKI_NAMESPACE = "kubernetes/kube-pki/";

/** The Kubernetes identity CA template. */
export const KUBE_ID_CA_TEMPLATE: CertTemplate = {
  commonName: "Metropolis Kubernetes ID CA",
  isCA: true,
  keyUsage: ["certSign", "crlSign", "digitalSignature"],
  extKeyUsage: ["clientAuth", "serverAuth"],
  subjectKeyId: true,
};

/** The `id-ca` over the root KV. */
export function kubeIdCA(rootKV: KV): CA {
  return new CA({
    storage: new EtcdPkiStorage(rootKV.namespace(KUBE_PKI_NAMESPACE)),
    name: "id-ca",
    template: KUBE_ID_CA_TEMPLATE,
  });
}

const leaf = (t: Partial<CertTemplate>): CertTemplate => ({
  isCA: false,
  keyUsage: ["digitalSignature", "keyEncipherment"],
  ...t,
});

/** Worker certificate profiles for node `id` (kubernetes.md §4, second table). */
export function workerTemplates(id: string) {
  return {
    kubeletServer: leaf({ dnsNames: [id], extKeyUsage: ["serverAuth"] }),
    kubeletClient: leaf({
      commonName: `system:node:${id}`,
      organization: ["system:nodes"],
      extKeyUsage: ["clientAuth"],
    }),
    csiProvisioner: leaf({
      commonName: `metropolis:csi-provisioner:${id}`,
      organization: ["metropolis:csi-provisioner"],
      extKeyUsage: ["clientAuth"],
    }),
    netservices: leaf({
      commonName: `metropolis:netservices:${id}`,
      organization: ["metropolis:netservices"],
      extKeyUsage: ["clientAuth"],
    }),
  };
}
