/** Signature and chain checks of DER certificates (one CA level; the cluster has no intermediates). */
import { createPublicKey, type KeyObject, verify as nodeVerify } from "node:crypto";
import { Buffer } from "node:buffer";
import { loadX509 } from "./x509.ts";
import { type CertInfo, parseCertificate } from "./info.ts";
import { equalBytes } from "./keys.ts";

/** Why a chain check failed, as a one-line reason. */
export class ChainError extends Error {
  /** `reason` is a short phrase such as "not signed by the CA". */
  constructor(readonly reason: string) {
    super(`pki: ${reason}`);
    this.name = "ChainError";
  }
}

/**
 * The three parts of a DER certificate (RFC 5280 §4.1: SEQUENCE { tbsCertificate,
 * signatureAlgorithm, signatureValue }): the signed bytes (tbsCertificate with its header), the
 * DER of the signature algorithm's OID, and the signature. undefined when `der` is not shaped so.
 */
export function certificateParts(
  der: Uint8Array,
): { tbs: Uint8Array; algorithm: Uint8Array; signature: Uint8Array } | undefined {
  const cert = tlv(der, 0);
  if (!cert || cert.tag !== 0x30 || cert.end !== der.length) return undefined;
  const tbs = tlv(der, cert.start);
  const alg = tbs && tbs.tag === 0x30 ? tlv(der, tbs.end) : undefined;
  const oid = alg && alg.tag === 0x30 ? tlv(der, alg.start) : undefined;
  const sig = alg ? tlv(der, alg.end) : undefined;
  if (!oid || oid.tag !== 0x06 || !sig || sig.tag !== 0x03 || sig.end !== cert.end) {
    return undefined;
  }
  // A BIT STRING's first content byte counts the unused bits: 0 for a signature.
  if (sig.end - sig.start < 1 || der[sig.start] !== 0) return undefined;
  return {
    tbs: der.subarray(cert.start, tbs!.end),
    algorithm: der.subarray(oid.start - 2, oid.end),
    signature: der.subarray(sig.start + 1, sig.end),
  };
}

/** One DER TLV at `off` (definite lengths up to 4 bytes): tag, content start and end. */
function tlv(b: Uint8Array, off: number): { tag: number; start: number; end: number } | undefined {
  if (off + 2 > b.length) return undefined;
  const tag = b[off];
  let len = b[off + 1];
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4 || start + n > b.length) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i];
    start += n;
  }
  const end = start + len;
  return end <= b.length ? { tag, start, end } : undefined;
}

/** DER of the OID 1.3.101.112 (Ed25519) as it appears in an AlgorithmIdentifier. */
const ED25519_OID_DER = Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x70);

/**
 * Parsed issuers and their imported Ed25519 keys: a node verifies client certificates against the
 * one cluster CA, so parsing it and importing its key once per connection was most of the cost
 * of accepting a connection (issue #16: the heartbeat bench's ramp-up).
 */
const issuers: { der: Uint8Array; info: CertInfo; key?: KeyObject }[] = [];
const ISSUER_CACHE = 4;

function issuer(der: Uint8Array): { der: Uint8Array; info: CertInfo; key?: KeyObject } {
  let e = issuers.find((x) => equalBytes(x.der, der));
  if (!e) {
    e = { der: der.slice(), info: parseCertificate(der) };
    issuers.unshift(e);
    issuers.length = Math.min(issuers.length, ISSUER_CACHE);
  }
  return e;
}

/** True when `der`'s signature verifies with the public key of `issuerDer`. */
export async function verifySignature(der: Uint8Array, issuerDer: Uint8Array): Promise<boolean> {
  // Fast path, Ed25519 over Ed25519: the signed bytes against the issuer's cached key, with
  // node:crypto's one-shot verify, which took half the CPU of WebCrypto's (56 vs 109 µs per
  // certificate in Deno 2.9.6; the leader verifies every node's certificate once per connection).
  const parts = certificateParts(der);
  if (parts && equalBytes(parts.algorithm, ED25519_OID_DER)) {
    let ca;
    try {
      ca = issuer(issuerDer);
    } catch {
      return false;
    }
    if (ca.info.keyAlgorithm === "Ed25519") {
      try {
        ca.key ??= createPublicKey({
          key: {
            kty: "OKP",
            crv: "Ed25519",
            x: Buffer.from(ca.info.publicKey).toString("base64url"),
          },
          format: "jwk",
        });
        return nodeVerify(null, parts.tbs, ca.key, parts.signature);
      } catch {
        return false;
      }
    }
  }
  const x509 = await loadX509();
  const c = new x509.X509Certificate(der as BufferSource);
  const ca = new x509.X509Certificate(issuerDer as BufferSource);
  try {
    return await c.verify({ publicKey: ca, signatureOnly: true });
  } catch {
    return false;
  }
}

/** True when `der` is signed by its own key. */
export async function verifySelfSignature(der: Uint8Array): Promise<boolean> {
  const x509 = await loadX509();
  const c = new x509.X509Certificate(der as BufferSource);
  try {
    return await c.verify({ signatureOnly: true });
  } catch {
    return false;
  }
}

/** Options of {@link verifyChain}. */
export interface ChainOptions {
  /** Time for the validity check; default now. `null` skips the validity period check. */
  now?: Date | null;
  /** The leaf already parsed by the caller (`parseCertificate(leafDer)`), not parsed again. */
  leaf?: CertInfo;
}

/**
 * Verifies that `leafDer` was issued by the CA `caDer`: the CA is a CA (basicConstraints CA:TRUE,
 * certSign when KeyUsage is present), the leaf's issuer equals the CA's subject, the signature
 * verifies and both are within their validity period. Returns the parsed leaf; throws
 * {@link ChainError} with a one-line reason otherwise.
 */
export async function verifyChain(
  leafDer: Uint8Array,
  caDer: Uint8Array,
  opts: ChainOptions = {},
): Promise<CertInfo> {
  let leaf: CertInfo, ca: CertInfo;
  try {
    leaf = opts.leaf && equalBytes(opts.leaf.der, leafDer) ? opts.leaf : parseCertificate(leafDer);
  } catch {
    throw new ChainError("certificate does not parse");
  }
  try {
    ca = issuer(caDer).info;
  } catch {
    throw new ChainError("CA certificate does not parse");
  }
  if (!ca.isCA) throw new ChainError("CA certificate is not a CA (basicConstraints)");
  if (ca.keyUsage && !ca.keyUsage.includes("certSign")) {
    throw new ChainError("CA certificate lacks the certSign key usage");
  }
  if (leaf.issuer !== ca.subject) {
    throw new ChainError(`issuer "${leaf.issuer}" is not the CA "${ca.subject}"`);
  }
  if (!(await verifySignature(leafDer, caDer))) throw new ChainError("not signed by the CA");
  const now = opts.now === undefined ? new Date() : opts.now;
  if (now) {
    for (const [what, c] of [["certificate", leaf], ["CA certificate", ca]] as const) {
      if (now < c.notBefore) {
        throw new ChainError(`${what} is not valid before ${c.notBefore.toISOString()}`);
      }
      if (now > c.notAfter) throw new ChainError(`${what} expired at ${c.notAfter.toISOString()}`);
    }
  }
  return leaf;
}
