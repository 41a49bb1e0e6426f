/**
 * INSECURE TEST KEY. The fixed owner key of every launcher-made cluster (testing.md §2.4): the
 * private key is public in this repository, so anyone can act as the owner of such a cluster.
 * Never use it for anything but local test clusters.
 * @module
 */
import { importPkcs8Pem, rawPublicKey } from "../../node/base/pki/keys.ts";

/** INSECURE TEST KEY: PKCS#8 PEM of the Ed25519 owner key of launcher clusters. */
export const INSECURE_OWNER_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIO8LfnJL0ceIV+H9xutRDIDfGON0ck/gusvSpXNBj+/2
-----END PRIVATE KEY-----
`;

/** INSECURE TEST KEY as a WebCrypto key pair (extractable). */
export async function insecureOwnerKey(): Promise<CryptoKeyPair> {
  return await importPkcs8Pem(INSECURE_OWNER_KEY_PEM, "Ed25519");
}

/** The 32-byte raw public half of the INSECURE TEST KEY (NodeParameters owner_public_key). */
export async function insecureOwnerPublicKey(): Promise<Uint8Array> {
  return await rawPublicKey((await insecureOwnerKey()).publicKey);
}
