/** Signature and chain checks of DER certificates (one CA level; the cluster has no intermediates). */
import { x509 } from "./x509.ts";
import { type CertInfo, parseCertificate } from "./info.ts";

/** Why a chain check failed, as a one-line reason. */
export class ChainError extends Error {
  /** `reason` is a short phrase such as "not signed by the CA". */
  constructor(readonly reason: string) {
    super(`pki: ${reason}`);
    this.name = "ChainError";
  }
}

/** True when `der`'s signature verifies with the public key of `issuerDer`. */
export async function verifySignature(der: Uint8Array, issuerDer: Uint8Array): Promise<boolean> {
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
    leaf = parseCertificate(leafDer);
  } catch {
    throw new ChainError("certificate does not parse");
  }
  try {
    ca = parseCertificate(caDer);
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
