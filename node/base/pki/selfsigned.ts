/**
 * Self-signed Ed25519 certificates without names, written directly as DER (RFC 5280 §4.1): the
 * shape of the ephemeral certificate every node makes at boot to register or join. Byte for byte
 * what @peculiar/x509 writes for the same template (selfsigned_test.ts), without loading it
 * (x509.ts says why).
 */
import type { CertTemplate } from "./cert.ts";
import { exportSpki } from "./keys.ts";
import { contextTag, TAG } from "./der.ts";

/** KeyUsage bit numbers (RFC 5280 §4.2.1.3), by the names of {@link CertTemplate}. */
export const KEY_USAGE_BITS = {
  digitalSignature: 0,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  certSign: 5,
  crlSign: 6,
} as const;

/** ExtendedKeyUsage purposes (RFC 5280 §4.2.1.12), by the names of {@link CertTemplate}. */
export const EKU_OIDS = {
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  ocspSigning: "1.3.6.1.5.5.7.3.9",
} as const;

const ED25519_OID = "1.3.101.112";

function len(n: number): number[] {
  if (n < 0x80) return [n];
  const b: number[] = [];
  for (; n > 0; n >>= 8) b.unshift(n & 0xff);
  return [0x80 | b.length, ...b];
}

function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const size = content.reduce((s, c) => s + c.length, 0);
  const out = new Uint8Array([tag, ...len(size)]);
  const all = new Uint8Array(out.length + size);
  all.set(out);
  let o = out.length;
  for (const c of content) {
    all.set(c, o);
    o += c.length;
  }
  return all;
}

const seq = (...c: Uint8Array[]) => tlv(TAG.SEQUENCE, ...c);

function oid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const b7: number[] = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) b7.unshift(0x80 | (v & 0x7f));
    out.push(...b7);
  }
  return tlv(TAG.OID, new Uint8Array(out));
}

function integer(n: bigint): Uint8Array {
  let hex = n.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  const bytes = hex.match(/../g)!.map((h) => parseInt(h, 16));
  if (bytes[0] & 0x80) bytes.unshift(0);
  return tlv(TAG.INTEGER, new Uint8Array(bytes));
}

/** UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5), whole seconds. */
function time(d: Date): Uint8Array {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "") + "Z";
  const y = d.getUTCFullYear();
  return y >= 1950 && y < 2050
    ? tlv(TAG.UTC_TIME, new TextEncoder().encode(digits.slice(2)))
    : tlv(TAG.GENERALIZED_TIME, new TextEncoder().encode(digits));
}

/** A DER named bit list (trailing zero bits dropped) of the bit numbers `bits`. */
function namedBits(bits: number[]): Uint8Array {
  const last = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(last / 8) + 1);
  for (const b of bits) bytes[b >> 3] |= 0x80 >> (b & 7);
  return tlv(TAG.BIT_STRING, new Uint8Array([7 - (last & 7)]), bytes);
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return seq(
    oid(id),
    ...(critical ? [tlv(TAG.BOOLEAN, new Uint8Array([0xff]))] : []),
    tlv(TAG.OCTET_STRING, value),
  );
}

/** Whether {@link selfSignedEd25519} writes `template` (no names, SANs or key identifiers). */
export function isPlainSelfSigned(template: CertTemplate): boolean {
  return !template.commonName && !template.organization?.length &&
    !template.dnsNames?.length && !template.ipAddresses?.length &&
    !(template.subjectKeyId ?? template.isCA);
}

/**
 * The DER certificate of `template` ({@link isPlainSelfSigned}) for Ed25519 `keys`, signed by
 * their private key; `notBefore` and `notAfter` as given (cert.ts picks the defaults).
 */
export async function selfSignedEd25519(
  template: CertTemplate,
  keys: CryptoKeyPair,
  serial: bigint,
  notBefore: Date,
  notAfter: Date,
): Promise<Uint8Array> {
  if (!isPlainSelfSigned(template)) throw new Error("pki: template has names or key identifiers");
  if (keys.privateKey.algorithm.name !== "Ed25519") throw new Error("pki: not an Ed25519 key");
  for (const u of template.keyUsage) {
    if (KEY_USAGE_BITS[u] === undefined) throw new Error(`pki: unknown key usage "${u}"`);
  }
  for (const u of template.extKeyUsage ?? []) {
    if (!EKU_OIDS[u]) throw new Error(`pki: unknown extended key usage "${u}"`);
  }
  const alg = seq(oid(ED25519_OID));
  const ext: Uint8Array[] = [
    extension(
      "2.5.29.19",
      true,
      seq(...(template.isCA ? [tlv(TAG.BOOLEAN, new Uint8Array([0xff]))] : [])),
    ),
  ];
  if (template.keyUsage.length) {
    ext.push(
      extension("2.5.29.15", true, namedBits(template.keyUsage.map((u) => KEY_USAGE_BITS[u]))),
    );
  }
  if (template.extKeyUsage?.length) {
    ext.push(
      extension("2.5.29.37", false, seq(...template.extKeyUsage.map((u) => oid(EKU_OIDS[u])))),
    );
  }
  const tbs = seq(
    tlv(contextTag(0, true), integer(2n)),
    integer(serial),
    alg,
    seq(), // issuer: empty
    seq(time(notBefore), time(notAfter)),
    seq(), // subject: empty
    await exportSpki(keys.publicKey),
    tlv(contextTag(3, true), seq(...ext)),
  );
  const sig = new Uint8Array(
    await crypto.subtle.sign("Ed25519", keys.privateKey, tbs as BufferSource),
  );
  return seq(tbs, alg, tlv(TAG.BIT_STRING, new Uint8Array([0]), sig));
}
