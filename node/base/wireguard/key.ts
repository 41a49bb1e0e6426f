/**
 * WireGuard key pairs (Curve25519, X25519) through WebCrypto, in WireGuard's text form: base64
 * of 32 bytes. A node keeps its private key in one file; the public key is derived from it every
 * time, so the two can never disagree.
 * @module
 */
import { writeTextFileDurable } from "../sys/durable.ts";
import { keyBytes, keyText } from "./codec.ts";

/** A key pair as base64 text. */
export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

const ALG = { name: "X25519" } as const;

const b64url = (b: Uint8Array) =>
  keyText(b).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const fromB64url = (s: string) => keyBytes(s.replace(/-/g, "+").replace(/_/g, "/") + "=");

/**
 * Clamps a scalar the way Curve25519 does (RFC 7748 §5). X25519 clamps on use anyway, so the
 * public key is the same; storing the clamped form makes the file equal to what the kernel
 * reports and to what `wg genkey` would write.
 */
export function clamp(k: Uint8Array): Uint8Array {
  const c = k.slice();
  c[0] &= 248;
  c[31] = (c[31] & 127) | 64;
  return c;
}

/** The public key of a base64 private key; throws if it is not 32 bytes. */
export async function publicKeyOf(privateKey: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "OKP", crv: "X25519", d: b64url(keyBytes(privateKey)) },
    ALG,
    true,
    ["deriveBits"],
  );
  const jwk = await crypto.subtle.exportKey("jwk", key);
  if (!jwk.x) throw new Error("X25519: no public key derived");
  return keyText(fromB64url(jwk.x));
}

/** A fresh key pair. */
export async function generateKeyPair(): Promise<KeyPair> {
  const pair = await crypto.subtle.generateKey(ALG, true, ["deriveBits"]) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  if (!jwk.d) throw new Error("X25519: private key not exportable");
  const privateKey = keyText(clamp(fromB64url(jwk.d)));
  return { privateKey, publicKey: await publicKeyOf(privateKey) };
}

function validKey(text: string): boolean {
  try {
    keyBytes(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * The key pair whose private key is in `path`. A missing or unusable file (not base64 of 32
 * bytes, e.g. truncated by a crash) is replaced by a new key: written to a temporary file with
 * mode 0600 first and renamed over, so a reader never sees half a key. `created` tells the
 * caller that the published public key has changed.
 */
export async function loadOrCreateKey(path: string): Promise<KeyPair & { created: boolean }> {
  let text: string | undefined;
  try {
    text = (await Deno.readTextFile(path)).trim();
  } catch (e) {
    // Anything but absence (I/O, permissions) is not ours to paper over with a new key.
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (text !== undefined && validKey(text)) {
    return { privateKey: text, publicKey: await publicKeyOf(text), created: false };
  }
  const pair = await generateKeyPair();
  await writeTextFileDurable(path, pair.privateKey + "\n");
  return { ...pair, created: true };
}
