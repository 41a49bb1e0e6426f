/**
 * Who may use the authproxy (kubernetes.md §10): exactly one certificate, issued by the cluster
 * CA and currently valid, with the user profile of node/core/identity (Ed25519, not a CA, EKU
 * clientAuth, a CN). Node certificates are refused even though the cluster CA signed them: a node
 * acting as a Kubernetes user would bypass the Kubernetes PKI's own node identities.
 */
import { parseCertificate } from "../../base/pki/info.ts";
import { equalBytes } from "../../base/pki/keys.ts";
import { ChainError, verifyChain } from "../../base/pki/verify.ts";
import { checkNodeProfile, checkUserProfile, IdentityError } from "../../core/identity/verify.ts";

/** The outcome: the user's identity (the CN) or a one-line reason for refusing. */
export type ClientVerdict = { user: string } | { reason: string };

// The CN becomes a header value: printable ASCII only, bounded.
const HEADER_SAFE = /^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$/;

/**
 * Classifies the certificates a TLS client sent (DER, leaf first; see
 * node/core/rpc/peers.ts `peerChain`) against the cluster CA `clusterCA` (DER).
 */
export async function authenticateClient(
  chain: readonly Uint8Array[],
  clusterCA: Uint8Array,
  now: Date = new Date(),
): Promise<ClientVerdict> {
  if (chain.length === 0) return { reason: "client certificate required" };
  // As node/core/rpc/auth.ts: OpenSSL clients may append a copy of the trusted CA; a
  // byte-identical copy adds nothing. Any other extra certificate is refused.
  if (chain.length === 2 && equalBytes(chain[1], clusterCA)) chain = [chain[0]];
  if (chain.length !== 1) {
    return { reason: `exactly one certificate expected, got ${chain.length}` };
  }
  const der = chain[0];
  try {
    await verifyChain(der, clusterCA, { now });
    const info = parseCertificate(der);
    let isNode = true;
    try {
      checkNodeProfile(info);
    } catch (e) {
      if (!(e instanceof IdentityError)) throw e;
      isNode = false;
    }
    if (isNode) return { reason: "node certificates are not accepted" };
    const user = checkUserProfile(info).identity;
    if (!HEADER_SAFE.test(user)) return { reason: "certificate CN is not a usable user name" };
    return { user };
  } catch (e) {
    if (e instanceof ChainError || e instanceof IdentityError) {
      return { reason: `client certificate: ${e.reason}` };
    }
    return { reason: "client certificate does not parse" };
  }
}
