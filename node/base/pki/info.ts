/** Reading certificates: a flat, typed summary of the fields the project makes decisions on. */
import {
  bit,
  bitString,
  bool,
  children,
  contextTag,
  type Der,
  DerError,
  expect,
  hex,
  oid,
  readOne,
  TAG,
  text,
  time,
} from "./der.ts";
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
const OID_CN = "2.5.4.3";
const OID_O = "2.5.4.10";

const EXT = {
  subjectKeyId: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyId: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
} as const;

const EKU_NAMES: Record<string, ExtKeyUsage> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
  "1.3.6.1.5.5.7.3.3": "codeSigning",
  "1.3.6.1.5.5.7.3.9": "ocspSigning",
};

/** KeyUsage bits (RFC 5280 §4.2.1.3) by position. */
const KU_BITS: [number, KeyUsage][] = [
  [0, "digitalSignature"],
  [2, "keyEncipherment"],
  [3, "dataEncipherment"],
  [4, "keyAgreement"],
  [5, "certSign"],
  [6, "crlSign"],
];

/** Short names of attribute types in names (those @peculiar/x509 prints, so output matches). */
const ATTR_NAMES: Record<string, string> = {
  [OID_CN]: "CN",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  [OID_O]: "O",
  "2.5.4.11": "OU",
  "2.5.4.6": "C",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "E",
  "2.5.4.42": "G",
  "2.5.4.43": "I",
  "2.5.4.4": "SN",
  "2.5.4.12": "T",
};

/** RFC 4514 escaping of an attribute value. */
function escapeValue(v: string): string {
  return v.replace(/([,+"\\<>;])/g, "\\$1").replace(/^([ #])/, "\\$1").replace(/ $/, "\\ ")
    .replace(
      /[\r\n\t]/g,
      (c) => `\\${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`,
    );
}

interface NameInfo {
  /** RFC 4514 style, RDNs in certificate order, `, ` between and `+` inside RDNs. */
  text: string;
  /** Attribute values by type OID (string-typed values only). */
  values: Map<string, string[]>;
}

function readName(el: Der): NameInfo {
  expect(el, TAG.SEQUENCE, "name");
  const values = new Map<string, string[]>();
  const rdns: string[] = [];
  for (const rdn of children(el)) {
    expect(rdn, TAG.SET, "relative distinguished name");
    const parts: string[] = [];
    for (const atv of children(rdn)) {
      const [type, value] = children(expect(atv, TAG.SEQUENCE, "attribute"));
      const id = oid(expect(type, TAG.OID, "attribute type"));
      if (!value) throw new DerError("attribute without value");
      let str: string | undefined;
      try {
        str = text(value);
      } catch (e) {
        if (!(e instanceof DerError)) throw e;
      }
      if (str !== undefined) values.set(id, [...(values.get(id) ?? []), str]);
      parts.push(
        `${ATTR_NAMES[id] ?? id}=${str === undefined ? `#${hex(value.raw)}` : escapeValue(str)}`,
      );
    }
    rdns.push(parts.join("+"));
  }
  return { text: rdns.join(", "), values };
}

function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join(".");
  if (b.length !== 16) throw new DerError(`IP address of ${b.length} bytes`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  // RFC 5952: the longest run of two or more zero groups (the first of equals) becomes "::".
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const h = groups.map((g) => g.toString(16));
  if (best < 0) return h.join(":");
  return `${h.slice(0, best).join(":")}::${h.slice(best + bestLen).join(":")}`;
}

/**
 * Parses a DER certificate with our own DER reader (der.ts): a node's connection is classified by
 * its certificate on the curator leader's only thread, and @peculiar/x509's generic ASN.1 mapping
 * cost ≈ 1.8 ms per certificate there. Throws `pki: not a certificate: …` on malformed input.
 */
export function parseCertificate(der: Uint8Array): CertInfo {
  try {
    return readCertificate(der);
  } catch (e) {
    if (e instanceof DerError) throw new Error(`pki: not a certificate: ${e.message}`);
    if (e instanceof TypeError || e instanceof RangeError) {
      throw new Error(`pki: not a certificate: ${e.message}`);
    }
    throw e;
  }
}

function readCertificate(der: Uint8Array): CertInfo {
  const cert = expect(readOne(der), TAG.SEQUENCE, "certificate");
  const [tbs, sigAlg, sig] = children(cert);
  expect(tbs, TAG.SEQUENCE, "tbsCertificate");
  expect(sigAlg, TAG.SEQUENCE, "signatureAlgorithm");
  expect(sig, TAG.BIT_STRING, "signatureValue");
  const f = children(tbs);
  let i = 0;
  if (f[i]?.tag === contextTag(0, true)) i++; // version
  const serialEl = expect(f[i++], TAG.INTEGER, "serialNumber");
  expect(f[i++], TAG.SEQUENCE, "signature");
  const issuer = readName(f[i++]);
  const validity = children(expect(f[i++], TAG.SEQUENCE, "validity"));
  if (validity.length !== 2) throw new DerError("validity: expected two times");
  const subject = readName(f[i++]);
  const [alg, key] = children(expect(f[i++], TAG.SEQUENCE, "subjectPublicKeyInfo"));
  const spki = f[i - 1].raw;
  const algOid = oid(children(expect(alg, TAG.SEQUENCE, "algorithm"))[0]);
  const keyBits = bitString(key);
  let keyAlgorithm = algOid;
  let publicKey = spki.slice();
  if (algOid === OID_ED25519) {
    if (keyBits.bytes.length !== 32 || keyBits.unused) throw new DerError("Ed25519 key length");
    keyAlgorithm = "Ed25519";
    publicKey = keyBits.bytes.slice();
  } else if (algOid === OID_EC) keyAlgorithm = "ECDSA";
  else if (algOid === OID_RSA) keyAlgorithm = "RSASSA-PKCS1-v1_5";
  while (f[i] && (f[i].tag === contextTag(1, false) || f[i].tag === contextTag(2, false))) i++;
  const info: CertInfo = {
    der: der.slice(),
    serial: serialEl.value.length ? BigInt(`0x${hex(serialEl.value)}`) : 0n,
    commonNames: subject.values.get(OID_CN) ?? [],
    organization: subject.values.get(OID_O) ?? [],
    subject: subject.text,
    issuer: issuer.text,
    dnsNames: [],
    ipAddresses: [],
    isCA: false,
    notBefore: time(validity[0]),
    notAfter: time(validity[1]),
    keyAlgorithm,
    publicKey,
    keyUsage: undefined,
    extKeyUsage: undefined,
    subjectKeyId: undefined,
    authorityKeyId: undefined,
  };
  if (f[i]?.tag === contextTag(3, true)) {
    const [exts] = children(f[i++]);
    const seen = new Set<string>();
    for (const ext of children(expect(exts, TAG.SEQUENCE, "extensions"))) {
      const e = children(expect(ext, TAG.SEQUENCE, "extension"));
      const id = oid(e[0]);
      if (seen.has(id)) throw new DerError(`extension ${id} twice`);
      seen.add(id);
      const v = readOne(expect(e[e.length - 1], TAG.OCTET_STRING, "extnValue").value);
      readExtension(info, id, v);
    }
  }
  if (i !== f.length) throw new DerError("unexpected fields in tbsCertificate");
  return info;
}

function readExtension(info: CertInfo, id: string, v: Der): void {
  switch (id) {
    case EXT.basicConstraints: {
      const c = children(expect(v, TAG.SEQUENCE, "basicConstraints"));
      info.isCA = c[0]?.tag === TAG.BOOLEAN ? bool(c[0]) : false;
      break;
    }
    case EXT.keyUsage: {
      const { bytes } = bitString(v);
      info.keyUsage = KU_BITS.filter(([n]) => bit(bytes, n)).map(([, name]) => name);
      break;
    }
    case EXT.extKeyUsage:
      info.extKeyUsage = children(expect(v, TAG.SEQUENCE, "extKeyUsage")).map((o) => {
        const d = oid(o);
        return EKU_NAMES[d] ?? d;
      });
      break;
    case EXT.subjectAltName:
      for (const n of children(expect(v, TAG.SEQUENCE, "subjectAltName"))) {
        if (n.tag === contextTag(2, false)) info.dnsNames.push(String.fromCharCode(...n.value));
        else if (n.tag === contextTag(7, false)) info.ipAddresses.push(formatIp(n.value));
      }
      break;
    case EXT.subjectKeyId:
      info.subjectKeyId = expect(v, TAG.OCTET_STRING, "subjectKeyIdentifier").value.slice();
      break;
    case EXT.authorityKeyId:
      for (const c of children(expect(v, TAG.SEQUENCE, "authorityKeyIdentifier"))) {
        if (c.tag === contextTag(0, false)) info.authorityKeyId = c.value.slice();
      }
      break;
  }
}

/** PEM (`CERTIFICATE`) of a DER certificate. */
export function certificatePem(der: Uint8Array): string {
  return pemEncode("CERTIFICATE", der);
}

/** All DER certificates in a PEM text (a bundle), in order. */
export function certificatesFromPem(pem: string): Uint8Array[] {
  return pemDecodeAll(pem).filter((b) => b.label === "CERTIFICATE").map((b) => b.der);
}
