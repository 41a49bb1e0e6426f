/**
 * Certificate templates and issuance (X.509 v3, DER) on @peculiar/x509, loaded on first use;
 * self-signed Ed25519 certificates without names (the ephemeral certificate) are written by
 * selfsigned.ts instead. Knows nothing about the cluster: profiles (node, user, CA, …) are built
 * from these templates by node/core/identity and by the Kubernetes PKI.
 */
import type * as X509 from "@peculiar/x509";
import { loadX509 } from "./x509.ts";
import { ED25519, toHex } from "./keys.ts";
import { EKU_OIDS, isPlainSelfSigned, KEY_USAGE_BITS, selfSignedEd25519 } from "./selfsigned.ts";

/** NotAfter of every issued certificate: RFC 5280 "no well-defined expiration". */
export const NOT_AFTER_FOREVER = new Date("9999-12-31T23:59:59Z");

/** NotBefore back-dating of issued certificates (tolerates clock skew between nodes). */
export const NOT_BEFORE_SKEW_MS = 5 * 60 * 1000;

/** KeyUsage bits by name. */
export type KeyUsage =
  | "digitalSignature"
  | "keyEncipherment"
  | "dataEncipherment"
  | "keyAgreement"
  | "certSign"
  | "crlSign";

/** ExtendedKeyUsage purposes by name. */
export type ExtKeyUsage = "serverAuth" | "clientAuth" | "ocspSigning" | "codeSigning";

/** What a certificate should say. Everything not set is left out of the certificate. */
export interface CertTemplate {
  /** Subject CN. With neither commonName nor organization the subject is empty. */
  commonName?: string;
  /** Subject O values (Kubernetes groups). */
  organization?: string[];
  dnsNames?: string[];
  /** IPv4/IPv6 address literals for IP SANs. */
  ipAddresses?: string[];
  keyUsage: KeyUsage[];
  extKeyUsage?: ExtKeyUsage[];
  /** basicConstraints CA:TRUE (critical). CA:FALSE is written when false. */
  isCA: boolean;
  /** Serial number; default: random below 2^127. */
  serial?: bigint;
  /** Default: now − 5 minutes. */
  notBefore?: Date;
  /** Default: 9999-12-31T23:59:59Z. */
  notAfter?: Date;
  /** Add a SubjectKeyIdentifier (default: only for CAs). */
  subjectKeyId?: boolean;
}

/** A CA able to sign: its DER certificate and private key. */
export interface Signer {
  certificate: Uint8Array;
  privateKey: CryptoKey;
}

/** Returns a random serial number in [1, 2^127). */
export function randomSerial(): bigint {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] &= 0x7f;
  const n = BigInt("0x" + toHex(b));
  return n === 0n ? 1n : n;
}

/** WebCrypto signature algorithm matching a signing key. */
export function signatureAlgorithm(key: CryptoKey): Algorithm | RsaHashedImportParams {
  switch (key.algorithm.name) {
    case "Ed25519":
      return ED25519;
    case "RSASSA-PKCS1-v1_5":
      return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as RsaHashedImportParams;
    case "ECDSA":
      return { name: "ECDSA", hash: "SHA-256" } as Algorithm;
    default:
      throw new Error(`pki: cannot sign with a ${key.algorithm.name} key`);
  }
}

function subjectOf(t: CertTemplate): X509.JsonName {
  // Go's order (pkix.Name): O before CN.
  const name: X509.JsonName = [];
  if (t.organization?.length) name.push({ O: t.organization });
  if (t.commonName !== undefined) {
    if (t.commonName === "") throw new Error("pki: commonName must not be empty when set");
    name.push({ CN: [t.commonName] });
  }
  return name;
}

async function extensionsOf(
  x509: typeof X509,
  t: CertTemplate,
  publicKey: CryptoKey,
  issuerCert: X509.X509Certificate | undefined,
): Promise<X509.Extension[]> {
  const ext: X509.Extension[] = [];
  ext.push(new x509.BasicConstraintsExtension(t.isCA, undefined, true));
  let flags = 0;
  for (const u of t.keyUsage) {
    const bit = KEY_USAGE_BITS[u];
    if (bit === undefined) throw new Error(`pki: unknown key usage "${u}"`);
    flags |= 1 << bit; // x509.KeyUsageFlags: bit n of RFC 5280 is 1 << n
  }
  if (flags) ext.push(new x509.KeyUsagesExtension(flags, true));
  if (t.extKeyUsage?.length) {
    ext.push(
      new x509.ExtendedKeyUsageExtension(t.extKeyUsage.map((u) => {
        const oid = EKU_OIDS[u];
        if (!oid) throw new Error(`pki: unknown extended key usage "${u}"`);
        return oid;
      })),
    );
  }
  if (t.subjectKeyId ?? t.isCA) {
    ext.push(await x509.SubjectKeyIdentifierExtension.create(publicKey));
  }
  if (issuerCert) {
    const ski = issuerCert.getExtension(x509.SubjectKeyIdentifierExtension);
    ext.push(
      ski
        ? new x509.AuthorityKeyIdentifierExtension(ski.keyId)
        : await x509.AuthorityKeyIdentifierExtension.create(issuerCert.publicKey),
    );
  }
  const sans: X509.JsonGeneralName[] = [
    ...(t.dnsNames ?? []).map((v) => ({ type: "dns" as const, value: v })),
    ...(t.ipAddresses ?? []).map((v) => ({ type: "ip" as const, value: v })),
  ];
  if (sans.length) ext.push(new x509.SubjectAlternativeNameExtension(sans));
  return ext;
}

/**
 * Issues a certificate for `publicKey` according to `template`, signed by `issuer`, or
 * self-signed when `issuer` is the key pair being certified. Returns DER.
 */
export async function issueCertificate(
  template: CertTemplate,
  publicKey: CryptoKey,
  issuer: Signer | { selfSigned: CryptoKeyPair },
): Promise<Uint8Array> {
  const self = "selfSigned" in issuer;
  const signingKey = self ? issuer.selfSigned.privateKey : issuer.privateKey;
  if (self && issuer.selfSigned.publicKey !== publicKey) {
    throw new Error("pki: a self-signed certificate must certify the signing key pair");
  }
  const serial = template.serial ?? randomSerial();
  if (serial <= 0n) throw new Error(`pki: serial must be positive, got ${serial}`);
  const notBefore = template.notBefore ?? new Date(Date.now() - NOT_BEFORE_SKEW_MS);
  const notAfter = template.notAfter ?? NOT_AFTER_FOREVER;
  if (self && signingKey.algorithm.name === "Ed25519" && isPlainSelfSigned(template)) {
    return await selfSignedEd25519(template, issuer.selfSigned, serial, notBefore, notAfter);
  }
  const x509 = await loadX509();
  const issuerCert = self
    ? undefined
    : new x509.X509Certificate(issuer.certificate as BufferSource);
  if (issuerCert) {
    const bc = issuerCert.getExtension(x509.BasicConstraintsExtension);
    if (!bc?.ca) throw new Error(`pki: issuer "${issuerCert.subject}" is not a CA`);
  }
  let hex = serial.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  const subject = subjectOf(template);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: hex,
    subject,
    issuer: issuerCert ? issuerCert.subjectName : subject,
    notBefore,
    notAfter,
    signingAlgorithm: signatureAlgorithm(signingKey),
    publicKey,
    signingKey,
    extensions: await extensionsOf(x509, template, publicKey, issuerCert),
  });
  return new Uint8Array(cert.rawData);
}
