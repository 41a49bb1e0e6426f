/**
 * Certificate profiles of the cluster (node.md §9, wire/README.md "Identity and certificate
 * conventions"): cluster CA, node, user, ephemeral self-signed, and the etcd PKI.
 */
import { type CertTemplate, issueCertificate } from "../../base/pki/cert.ts";
import { rawPublicKey } from "../../base/pki/keys.ts";
import { nodeId } from "./nodeid.ts";

/** CN of the cluster CA. */
export const CLUSTER_CA_CN = "Metropolis Cluster CA";
/** CN of the etcd CA. */
export const ETCD_CA_CN = "Metropolis etcd CA Certificate";
/** Identity of the cluster owner's user certificate. */
export const OWNER_IDENTITY = "owner";

/** Cluster CA: self-signed, CA:true, certSign+cRLSign+digitalSignature, EKU client/server/OCSP. */
export const CLUSTER_CA_TEMPLATE: CertTemplate = {
  commonName: CLUSTER_CA_CN,
  isCA: true,
  keyUsage: ["certSign", "crlSign", "digitalSignature"],
  extKeyUsage: ["clientAuth", "serverAuth", "ocspSigning"],
  subjectKeyId: true,
};

/** etcd CA: same shape as the cluster CA with its own CN. */
export const ETCD_CA_TEMPLATE: CertTemplate = { ...CLUSTER_CA_TEMPLATE, commonName: ETCD_CA_CN };

/** Node certificate: CN = the only DNS SAN = node ID; EKU serverAuth only; no IP SANs. */
export function nodeTemplate(id: string): CertTemplate {
  return {
    commonName: id,
    dnsNames: [id],
    isCA: false,
    keyUsage: ["digitalSignature", "keyEncipherment"],
    extKeyUsage: ["serverAuth"],
  };
}

/** User certificate: CN = identity; no SANs; EKU clientAuth only. */
export function userTemplate(identity: string): CertTemplate {
  if (!identity) throw new Error("identity: a user identity must not be empty");
  return {
    commonName: identity,
    isCA: false,
    keyUsage: ["digitalSignature", "keyEncipherment"],
    extKeyUsage: ["clientAuth"],
  };
}

/**
 * etcd peer/server certificate: CN = node ID, DNS SANs = node ID plus `extraNames` (the node
 * address in namespace mode; IP literals become IP SANs); EKU serverAuth + clientAuth.
 */
export function etcdPeerTemplate(id: string, extraNames: string[] = []): CertTemplate {
  const isIp = (s: string) => /^[0-9.]+$/.test(s) || s.includes(":");
  return {
    commonName: id,
    dnsNames: [id, ...extraNames.filter((n) => !isIp(n))],
    ipAddresses: extraNames.filter(isIp),
    isCA: false,
    keyUsage: ["digitalSignature", "keyEncipherment"],
    extKeyUsage: ["serverAuth", "clientAuth"],
  };
}

/** Template of the node certificate for the Ed25519 `publicKey`. */
export async function nodeTemplateFor(publicKey: CryptoKey): Promise<CertTemplate> {
  return nodeTemplate(nodeId(await rawPublicKey(publicKey)));
}

/** Ephemeral client certificate profile (wire/README.md): serial 1, empty names, self-signed. */
export const EPHEMERAL_TEMPLATE: CertTemplate = {
  serial: 1n,
  isCA: false,
  keyUsage: ["keyEncipherment", "digitalSignature", "certSign"],
  extKeyUsage: ["clientAuth"],
};

/**
 * Makes the ephemeral self-signed client certificate (DER) of `keys`, used for
 * allow_unauthenticated calls to prove possession of the key (RegisterNode, CommitNode, JoinNode,
 * Escrow, CA TOFU). NotBefore = now, as upstream.
 */
export async function ephemeralCertificate(keys: CryptoKeyPair): Promise<Uint8Array> {
  if (keys.publicKey.algorithm.name !== "Ed25519") {
    throw new Error("identity: ephemeral certificates need an Ed25519 key");
  }
  return await issueCertificate({ ...EPHEMERAL_TEMPLATE, notBefore: new Date() }, keys.publicKey, {
    selfSigned: keys,
  });
}
