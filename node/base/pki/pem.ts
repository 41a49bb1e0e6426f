/** PEM encoding and decoding (RFC 7468) of DER blobs: certificates, PKCS#8 keys, CRLs. */

/** One PEM block: its label (e.g. `CERTIFICATE`) and DER contents. */
export interface PemBlock {
  label: string;
  der: Uint8Array;
}

function toBase64(der: Uint8Array): string {
  let s = "";
  for (let i = 0; i < der.length; i += 0x8000) {
    s += String.fromCharCode(...der.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Encodes `der` as a PEM block with the given label, lines of 64 characters, trailing newline. */
export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = toBase64(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Decodes every PEM block in `text`, in order. Text outside blocks is ignored. */
export function pemDecodeAll(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK_RE)) {
    const b64 = m[2].replace(/\s+/g, "");
    let bin: string;
    try {
      bin = atob(b64);
    } catch {
      throw new Error(`pem: block "${m[1]}" is not valid base64`);
    }
    out.push({ label: m[1], der: Uint8Array.from(bin, (c) => c.charCodeAt(0)) });
  }
  return out;
}

/**
 * Decodes exactly one PEM block with the label `label` from `text`; throws naming the label when
 * there is none or more than one.
 */
export function pemDecode(text: string, label: string): Uint8Array {
  const blocks = pemDecodeAll(text).filter((b) => b.label === label);
  if (blocks.length !== 1) {
    throw new Error(`pem: expected exactly one "${label}" block, found ${blocks.length}`);
  }
  return blocks[0].der;
}
