/**
 * Verification of peers as node, user or self-signed key holder (node.md §9, §10.2, §10.4). Each
 * function returns the identity or throws {@link IdentityError} with a one-line reason. Validity
 * periods are not checked (upstream checks signatures only; NotAfter is 9999 anyway).
 */
import { type CertInfo, parseCertificate } from "../../base/pki/info.ts";
import { ChainError, verifyChain, verifySelfSignature } from "../../base/pki/verify.ts";
import { nodeId } from "./nodeid.ts";

/** A peer failed verification; `reason` is a one-line explanation. */
export class IdentityError extends Error {
  /** `reason`: e.g. "key is ECDSA, not Ed25519". */
  constructor(readonly reason: string) {
    super(`identity: ${reason}`);
    this.name = "IdentityError";
  }
}

/** A verified node certificate. */
export interface NodeIdentity {
  nodeId: string;
  /** Raw 32-byte Ed25519 key. */
  publicKey: Uint8Array;
  certificate: CertInfo;
}

/** A verified user certificate. */
export interface UserIdentity {
  /** The CN, e.g. `owner`. */
  identity: string;
  publicKey: Uint8Array;
  certificate: CertInfo;
}

/** Returns the only certificate of a peer chain; throws when there are none or several. */
export function singleCertificate(chain: readonly Uint8Array[]): Uint8Array {
  if (chain.length !== 1) {
    throw new IdentityError(`exactly one certificate expected, got ${chain.length}`);
  }
  return chain[0];
}

function parse(der: Uint8Array): CertInfo {
  try {
    return parseCertificate(der);
  } catch {
    throw new IdentityError("certificate does not parse");
  }
}

function ed25519(c: CertInfo): void {
  if (c.keyAlgorithm !== "Ed25519") {
    throw new IdentityError(`key is ${c.keyAlgorithm}, not Ed25519`);
  }
}

async function signedByCA(der: Uint8Array, caDer: Uint8Array): Promise<CertInfo> {
  const ca = parse(caDer);
  if (ca.keyAlgorithm !== "Ed25519") throw new IdentityError("cluster CA key is not Ed25519");
  try {
    return await verifyChain(der, caDer, { now: null });
  } catch (e) {
    if (e instanceof ChainError) throw new IdentityError(e.reason);
    throw e;
  }
}

/**
 * Checks everything of a node certificate except its signature (which the caller has verified,
 * e.g. a TLS stack against the cluster CA): Ed25519 key, not a CA, EKU serverAuth, CN and a DNS
 * SAN equal to the node ID of its key. Synchronous, for TLS `checkServerIdentity`.
 */
export function checkNodeProfile(c: CertInfo): NodeIdentity {
  ed25519(c);
  if (c.isCA) throw new IdentityError("certificate is a CA");
  if (!c.extKeyUsage?.includes("serverAuth")) throw new IdentityError("EKU lacks serverAuth");
  const id = nodeId(c.publicKey);
  if (c.commonNames.length !== 1 || c.commonNames[0] !== id) {
    throw new IdentityError(`CN "${c.commonNames.join(",")}" is not the node ID ${id}`);
  }
  if (!c.dnsNames.includes(id)) throw new IdentityError(`no DNS SAN equals the node ID ${id}`);
  return { nodeId: id, publicKey: c.publicKey, certificate: c };
}

/**
 * Verifies `der` as a node certificate of the cluster whose CA is `caDer`: Ed25519 key, signed by
 * the CA, not a CA, EKU serverAuth, CN and a DNS SAN equal to the node ID of its key.
 */
export async function verifyNodeCertificate(
  der: Uint8Array,
  caDer: Uint8Array,
): Promise<NodeIdentity> {
  const c = parse(der);
  ed25519(c);
  await signedByCA(der, caDer);
  return checkNodeProfile(c);
}

/** Checks everything of a user certificate except its signature (see {@link checkNodeProfile}). */
export function checkUserProfile(c: CertInfo): UserIdentity {
  ed25519(c);
  if (c.isCA) throw new IdentityError("certificate is a CA");
  if (!c.extKeyUsage?.includes("clientAuth")) throw new IdentityError("EKU lacks clientAuth");
  if (c.commonNames.length !== 1 || !c.commonNames[0]) {
    throw new IdentityError("user certificate has no CN");
  }
  return { identity: c.commonNames[0], publicKey: c.publicKey, certificate: c };
}

/**
 * Verifies `der` as a user certificate of the cluster whose CA is `caDer`: Ed25519 key, signed by
 * the CA, not a CA, EKU clientAuth, non-empty CN (the identity).
 */
export async function verifyUserCertificate(
  der: Uint8Array,
  caDer: Uint8Array,
): Promise<UserIdentity> {
  const c = parse(der);
  ed25519(c);
  await signedByCA(der, caDer);
  return checkUserProfile(c);
}

/**
 * Verifies `der` as a self-signed Ed25519 certificate (ephemeral client certificate) and returns
 * its raw public key: the caller has proven possession of that key.
 */
export async function verifySelfSigned(der: Uint8Array): Promise<{ publicKey: Uint8Array }> {
  const c = parse(der);
  ed25519(c);
  if (!(await verifySelfSignature(der))) throw new IdentityError("self-signature does not verify");
  return { publicKey: c.publicKey };
}
