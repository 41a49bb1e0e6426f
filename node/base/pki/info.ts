/** Reading certificates: a flat, typed summary of the fields the project makes decisions on. */
import { x509 } from "./x509.ts";
import type { ExtKeyUsage, KeyUsage } from "./cert.ts";
import { pemDecodeAll, pemEncode } from "./pem.ts";

/** The decision-relevant contents of a certificate. */
export interface CertInfo {
  /** DER of the certificate. */
  der: Uint8Array;
  serial: bigint;
  /** Subject CN values (normally zero or one). */
  commonNames: string[];
  organization: string[];
  /** Subject as a string (RFC 4514 style); "" when empty. */
  subject: string;
  issuer: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** basicConstraints CA flag; false when absent. */
  isCA: boolean;
  /** undefined when the certificate has no KeyUsage extension. */
  keyUsage?: KeyUsage[];
  /** undefined when the certificate has no ExtendedKeyUsage extension. */
  extKeyUsage?: (ExtKeyUsage | string)[];
  notBefore: Date;
  notAfter: Date;
  /** WebCrypto name of the key algorithm: "Ed25519", "ECDSA", "RSASSA-PKCS1-v1_5", … */
  keyAlgorithm: string;
  /** Raw 32-byte key for Ed25519, DER SPKI otherwise. */
  publicKey: Uint8Array;
  subjectKeyId?: Uint8Array;
  authorityKeyId?: Uint8Array;
}

const OID_ED25519 = "1.3.101.112";
const OID_EC = "1.2.840.10045.2.1";
const OID_RSA = "1.2.840.113549.1.1.1";

const EKU_NAMES: Record<string, ExtKeyUsage> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
  "1.3.6.1.5.5.7.3.3": "codeSigning",
  "1.3.6.1.5.5.7.3.9": "ocspSigning",
};

const KU_NAMES: [number, KeyUsage][] = [
  [x509.KeyUsageFlags.digitalSignature, "digitalSignature"],
  [x509.KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [x509.KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [x509.KeyUsageFlags.keyAgreement, "keyAgreement"],
  [x509.KeyUsageFlags.keyCertSign, "certSign"],
  [x509.KeyUsageFlags.cRLSign, "crlSign"],
];

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Parses a DER certificate. Throws `pki: not a certificate: …` on malformed input. */
export function parseCertificate(der: Uint8Array): CertInfo {
  let c: x509.X509Certificate;
  try {
    c = new x509.X509Certificate(der as BufferSource);
  } catch (e) {
    throw new Error(`pki: not a certificate: ${(e as Error).message}`);
  }
  const spki = new Uint8Array(c.publicKey.rawData);
  const algOid = c.publicKey.algorithm.name;
  const algName = (c.publicKey.algorithm as Algorithm).name;
  let keyAlgorithm = algName;
  let publicKey = spki;
  // @peculiar/x509 reports the WebCrypto name; fall back to the SPKI OID check for Ed25519.
  if (algName === "Ed25519" || algOid === OID_ED25519) {
    keyAlgorithm = "Ed25519";
    publicKey = spki.slice(spki.length - 32);
  } else if (algName === OID_EC) keyAlgorithm = "ECDSA";
  else if (algName === OID_RSA) keyAlgorithm = "RSASSA-PKCS1-v1_5";
  const bc = c.getExtension(x509.BasicConstraintsExtension);
  const ku = c.getExtension(x509.KeyUsagesExtension);
  const eku = c.getExtension(x509.ExtendedKeyUsageExtension);
  const san = c.getExtension(x509.SubjectAlternativeNameExtension);
  const ski = c.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = c.getExtension(x509.AuthorityKeyIdentifierExtension);
  const names = san?.names.toJSON() ?? [];
  return {
    der: new Uint8Array(c.rawData),
    serial: BigInt("0x" + (c.serialNumber || "0")),
    commonNames: c.subjectName.getField("CN"),
    organization: c.subjectName.getField("O"),
    subject: c.subject,
    issuer: c.issuer,
    dnsNames: names.filter((n) => n.type === "dns").map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === "ip").map((n) => n.value),
    isCA: bc?.ca ?? false,
    keyUsage: ku ? KU_NAMES.filter(([f]) => ku.usages & f).map(([, n]) => n) : undefined,
    extKeyUsage: eku
      ? Array.from(eku.usages, (u) => EKU_NAMES[u as string] ?? (u as string))
      : undefined,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    keyAlgorithm,
    publicKey,
    subjectKeyId: ski ? hexToBytes(ski.keyId) : undefined,
    authorityKeyId: aki?.keyId ? hexToBytes(aki.keyId) : undefined,
  };
}

/** PEM (`CERTIFICATE`) of a DER certificate. */
export function certificatePem(der: Uint8Array): string {
  return pemEncode("CERTIFICATE", der);
}

/** All DER certificates in a PEM text (a bundle), in order. */
export function certificatesFromPem(pem: string): Uint8Array[] {
  return pemDecodeAll(pem).filter((b) => b.label === "CERTIFICATE").map((b) => b.der);
}
