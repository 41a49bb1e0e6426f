/**
 * A minimal DER reader: tag-length-value elements over a byte array, without copying. Enough to
 * read certificates (x509_read.ts); strict where DER is strict (definite, minimal lengths; no
 * element may run past its parent) so hostile input fails with a {@link DerError} instead of
 * reading out of bounds. Multi-byte tag numbers (≥ 31) are rejected: X.509 does not use them.
 * @module
 */

/** Malformed DER. */
export class DerError extends Error {}

/** One element: its tag byte, its content and its whole encoding. */
export interface Der {
  /** The identifier octet (class, constructed bit and tag number). */
  tag: number;
  /** The content octets. */
  value: Uint8Array;
  /** Identifier, length and content octets. */
  raw: Uint8Array;
}

/** Universal tags and context-specific tags used by X.509. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific tag `n` (constructed when `constructed`). */
export function contextTag(n: number, constructed: boolean): number {
  return 0x80 | (constructed ? 0x20 : 0) | n;
}

/** Reads the element at `offset` of `buf`; returns it and the offset after it. */
export function readElement(buf: Uint8Array, offset = 0): { el: Der; next: number } {
  if (offset + 2 > buf.length) throw new DerError("truncated element header");
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte tag numbers are not supported");
  let len = buf[offset + 1];
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError("indefinite length is not DER");
    if (n > 4) throw new DerError("length too large");
    if (pos + n > buf.length) throw new DerError("truncated length");
    if (buf[pos] === 0) throw new DerError("non-minimal length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i];
    if (len < 0x80) throw new DerError("non-minimal length");
    pos += n;
  }
  if (pos + len > buf.length) throw new DerError("element runs past its container");
  return {
    el: { tag, value: buf.subarray(pos, pos + len), raw: buf.subarray(offset, pos + len) },
    next: pos + len,
  };
}

/** Reads `buf` as exactly one element. */
export function readOne(buf: Uint8Array): Der {
  const { el, next } = readElement(buf, 0);
  if (next !== buf.length) throw new DerError("trailing bytes after the element");
  return el;
}

/** The elements inside a constructed element's content. */
export function children(el: Der): Der[] {
  if (!(el.tag & 0x20)) throw new DerError(`tag 0x${el.tag.toString(16)} is not constructed`);
  const out: Der[] = [];
  for (let pos = 0; pos < el.value.length;) {
    const r = readElement(el.value, pos);
    out.push(r.el);
    pos = r.next;
  }
  return out;
}

/** Throws unless `el` has tag `tag`; returns `el`. */
export function expect(el: Der | undefined, tag: number, what: string): Der {
  if (!el) throw new DerError(`${what}: missing`);
  if (el.tag !== tag) {
    throw new DerError(`${what}: tag 0x${el.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  }
  return el;
}

/** Dotted form of an OBJECT IDENTIFIER's content. */
export function oid(el: Der): string {
  expect(el, TAG.OID, "object identifier");
  const v = el.value;
  if (v.length === 0) throw new DerError("empty object identifier");
  const arcs: number[] = [];
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    if (n === 0 && v[i] === 0x80) throw new DerError("non-minimal object identifier arc");
    n = n * 128 + (v[i] & 0x7f);
    if (n > Number.MAX_SAFE_INTEGER / 128) throw new DerError("object identifier arc too large");
    if (!(v[i] & 0x80)) {
      arcs.push(n);
      n = 0;
    } else if (i === v.length - 1) throw new DerError("truncated object identifier");
  }
  const first = arcs[0] < 40 ? 0 : arcs[0] < 80 ? 1 : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join(".");
}

/** A BOOLEAN's value. */
export function bool(el: Der): boolean {
  expect(el, TAG.BOOLEAN, "boolean");
  if (el.value.length !== 1) throw new DerError("boolean of wrong length");
  return el.value[0] !== 0;
}

/** A BIT STRING's content: its bytes and the number of unused bits in the last one. */
export function bitString(el: Der): { bytes: Uint8Array; unused: number } {
  expect(el, TAG.BIT_STRING, "bit string");
  if (el.value.length === 0) throw new DerError("empty bit string");
  const unused = el.value[0];
  if (unused > 7 || (unused > 0 && el.value.length === 1)) throw new DerError("bad bit string");
  return { bytes: el.value.subarray(1), unused };
}

/** Bit `n` (0 = the first, most significant bit) of a BIT STRING's bytes. */
export function bit(bytes: Uint8Array, n: number): boolean {
  const i = n >> 3;
  return i < bytes.length && ((bytes[i] >> (7 - (n & 7))) & 1) === 1;
}

/** A string element (UTF8, Printable, IA5, T61 as Latin-1, BMP, Universal) as text. */
export function text(el: Der): string {
  switch (el.tag) {
    case TAG.UTF8_STRING:
      return new TextDecoder("utf-8", { fatal: true }).decode(el.value);
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.T61_STRING:
      return String.fromCharCode(...el.value);
    case TAG.BMP_STRING:
      return new TextDecoder("utf-16be", { fatal: true }).decode(el.value);
    case TAG.UNIVERSAL_STRING: {
      if (el.value.length % 4) throw new DerError("bad UniversalString");
      const dv = new DataView(el.value.buffer, el.value.byteOffset, el.value.byteLength);
      let s = "";
      for (let i = 0; i < el.value.length; i += 4) s += String.fromCodePoint(dv.getUint32(i));
      return s;
    }
    default:
      throw new DerError(`tag 0x${el.tag.toString(16)} is not a string`);
  }
}

/** A UTCTime or GeneralizedTime (UTC, `Z`, optional fractional seconds) as a Date. */
export function time(el: Der): Date {
  const s = String.fromCharCode(...el.value);
  const m = el.tag === TAG.UTC_TIME
    ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
    : el.tag === TAG.GENERALIZED_TIME
    ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?Z$/.exec(s)
    : null;
  if (!m) throw new DerError(`bad time ${JSON.stringify(s.slice(0, 32))}`);
  let year = Number(m[1]);
  // RFC 5280 §4.1.2.5.1: UTCTime years 50–99 are 19xx, 00–49 are 20xx.
  if (el.tag === TAG.UTC_TIME) year += year >= 50 ? 1900 : 2000;
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  const d = new Date(
    Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms),
  );
  if (d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) {
    throw new DerError(`bad time ${s}`);
  }
  return d;
}

/** Lower-case hex of `b`. */
export function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}
