/**
 * Key handling on WebCrypto: Ed25519 (every cluster identity) and RSA-2048 (only where a foreign
 * profile requires it, e.g. the Kubernetes service-account signing key). All keys are extractable
 * so they can be persisted.
 */
import { pemDecode, pemEncode } from "./pem.ts";

/** WebCrypto algorithm of Ed25519 keys and signatures. */
export const ED25519 = { name: "Ed25519" } as const;

/** WebCrypto algorithm of RSA keys generated here: PKCS#1 v1.5 with SHA-256 (JWT RS256). */
export const RSA_SHA256 = {
  name: "RSASSA-PKCS1-v1_5",
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
} as const;

/** PKCS#8 prefix of an Ed25519 private key: the seed (32 bytes) follows it (RFC 8410). */
const ED25519_PKCS8_PREFIX = Uint8Array.from([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
]);

/** Generates a fresh extractable Ed25519 key pair. */
export async function generateEd25519(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"]) as CryptoKeyPair;
}

/** Generates a fresh extractable RSA-2048 key pair (RSASSA-PKCS1-v1_5, SHA-256). */
export async function generateRsa2048(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(RSA_SHA256, true, ["sign", "verify"]) as CryptoKeyPair;
}

/** Returns the raw 32-byte public key of an Ed25519 public key. */
export async function rawPublicKey(publicKey: CryptoKey): Promise<Uint8Array> {
  if (publicKey.algorithm.name !== "Ed25519" || publicKey.type !== "public") {
    throw new Error(`pki: rawPublicKey needs an Ed25519 public key, got ${describe(publicKey)}`);
  }
  return new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
}

/** Imports a raw 32-byte Ed25519 public key. */
export async function importEd25519Public(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== 32) {
    throw new Error(`pki: an Ed25519 public key is 32 bytes, got ${raw.length}`);
  }
  return await crypto.subtle.importKey("raw", raw as BufferSource, ED25519, true, ["verify"]);
}

/** Exports a public key (any algorithm) as DER SubjectPublicKeyInfo. */
export async function exportSpki(publicKey: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
}

/** Exports a private key as PKCS#8 DER. */
export async function exportPkcs8(privateKey: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey("pkcs8", privateKey));
}

/** Exports a private key as PKCS#8 PEM (`PRIVATE KEY`). */
export async function exportPkcs8Pem(privateKey: CryptoKey): Promise<string> {
  return pemEncode("PRIVATE KEY", await exportPkcs8(privateKey));
}

/**
 * Imports a PKCS#8 DER private key together with its public half. `kind` says which algorithm the
 * caller expects; a key of another algorithm is refused with a clear error.
 */
export async function importPkcs8(
  der: Uint8Array,
  kind: "Ed25519" | "RSA" = "Ed25519",
): Promise<CryptoKeyPair> {
  const alg = kind === "Ed25519" ? ED25519 : { name: RSA_SHA256.name, hash: RSA_SHA256.hash };
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey("pkcs8", der as BufferSource, alg, true, ["sign"]);
  } catch (e) {
    throw new Error(`pki: not a PKCS#8 ${kind} private key: ${(e as Error).message}`);
  }
  // WebCrypto cannot derive a public key directly; the private JWK carries the public parameters.
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  const pubJwk: JsonWebKey = kind === "Ed25519"
    ? { kty: "OKP", crv: "Ed25519", x: jwk.x }
    : { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RS256" };
  const publicKey = await crypto.subtle.importKey("jwk", pubJwk, alg, true, ["verify"]);
  return { privateKey, publicKey };
}

/** Imports a PKCS#8 PEM (`PRIVATE KEY`) private key with its public half. */
export async function importPkcs8Pem(
  pem: string,
  kind: "Ed25519" | "RSA" = "Ed25519",
): Promise<CryptoKeyPair> {
  return await importPkcs8(pemDecode(pem, "PRIVATE KEY"), kind);
}

/** Returns the 32-byte seed of an Ed25519 private key (RFC 8032 private key). */
export async function ed25519Seed(privateKey: CryptoKey): Promise<Uint8Array> {
  const der = await exportPkcs8(privateKey);
  if (der.length !== 48 || privateKey.algorithm.name !== "Ed25519") {
    throw new Error(`pki: ed25519Seed needs an Ed25519 private key, got ${describe(privateKey)}`);
  }
  return der.slice(16);
}

/** Rebuilds an Ed25519 key pair from its 32-byte seed. */
export async function ed25519FromSeed(seed: Uint8Array): Promise<CryptoKeyPair> {
  if (seed.length !== 32) throw new Error(`pki: an Ed25519 seed is 32 bytes, got ${seed.length}`);
  const der = new Uint8Array(48);
  der.set(ED25519_PKCS8_PREFIX);
  der.set(seed, 16);
  return await importPkcs8(der, "Ed25519");
}

/**
 * Encodes an Ed25519 private key in Go's `ed25519.PrivateKey` layout (seed ‖ public key, 64
 * bytes), the format upstream stores under `keys/<name>-privkey.bin`.
 */
export async function exportGoEd25519(keys: CryptoKeyPair): Promise<Uint8Array> {
  const out = new Uint8Array(64);
  out.set(await ed25519Seed(keys.privateKey));
  out.set(await rawPublicKey(keys.publicKey), 32);
  return out;
}

/** Decodes Go's 64-byte `ed25519.PrivateKey` layout (also accepts a bare 32-byte seed). */
export async function importGoEd25519(bytes: Uint8Array): Promise<CryptoKeyPair> {
  if (bytes.length !== 64 && bytes.length !== 32) {
    throw new Error(`pki: a Go Ed25519 private key is 64 bytes, got ${bytes.length}`);
  }
  const pair = await ed25519FromSeed(bytes.subarray(0, 32));
  if (bytes.length === 64) {
    const pub = await rawPublicKey(pair.publicKey);
    if (!equalBytes(pub, bytes.subarray(32))) {
      throw new Error("pki: Go Ed25519 private key: public half does not match the seed");
    }
  }
  return pair;
}

/** Constant-shape byte comparison (not secret-dependent timing-critical here). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function describe(k: CryptoKey): string {
  return `${k.type} ${k.algorithm.name} key`;
}
