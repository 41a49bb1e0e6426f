/**
 * TPM 2.0 wire encoding (TPM 2.0 Part 1 §18, Part 2): every integer is big-endian, a TPM2B is a
 * 16-bit size followed by that many bytes, a list is a 32-bit count followed by its elements.
 * @module
 */

/** Builds a big-endian byte string. */
export class Writer {
  #buf = new Uint8Array(256);
  #len = 0;

  #grow(n: number): DataView {
    if (this.#len + n > this.#buf.length) {
      const b = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
      b.set(this.#buf.subarray(0, this.#len));
      this.#buf = b;
    }
    const v = new DataView(this.#buf.buffer, this.#len, n);
    this.#len += n;
    return v;
  }

  /** Appends an unsigned 8-bit value. */
  u8(v: number): this {
    this.#grow(1).setUint8(0, v);
    return this;
  }

  /** Appends an unsigned 16-bit value. */
  u16(v: number): this {
    this.#grow(2).setUint16(0, v);
    return this;
  }

  /** Appends an unsigned 32-bit value. */
  u32(v: number): this {
    this.#grow(4).setUint32(0, v >>> 0);
    return this;
  }

  /** Appends raw bytes. */
  bytes(b: Uint8Array): this {
    this.#grow(b.length);
    this.#buf.set(b, this.#len - b.length);
    return this;
  }

  /** Appends a TPM2B: 16-bit size, then `b`. */
  tpm2b(b: Uint8Array): this {
    if (b.length > 0xffff) throw new RangeError(`TPM2B of ${b.length} bytes`);
    return this.u16(b.length).bytes(b);
  }

  /** The bytes written so far (a copy). */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

/** Reads a big-endian byte string; every read past the end throws. */
export class Reader {
  #off = 0;
  readonly #view: DataView;

  /** Reads `buf` from its start. */
  constructor(readonly buf: Uint8Array) {
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  #take(n: number): number {
    if (this.#off + n > this.buf.length) {
      throw new RangeError(`truncated TPM data: need ${n} bytes at offset ${this.#off}`);
    }
    const o = this.#off;
    this.#off += n;
    return o;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.buf.length - this.#off;
  }

  /** Reads an unsigned 8-bit value. */
  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }

  /** Reads an unsigned 16-bit value. */
  u16(): number {
    return this.#view.getUint16(this.#take(2));
  }

  /** Reads an unsigned 32-bit value. */
  u32(): number {
    return this.#view.getUint32(this.#take(4));
  }

  /** Reads `n` raw bytes (a copy). */
  bytes(n: number): Uint8Array {
    const o = this.#take(n);
    return this.buf.slice(o, o + n);
  }

  /** Reads a TPM2B's contents (without its size). */
  tpm2b(): Uint8Array {
    return this.bytes(this.u16());
  }

  /** Reads a whole TPM2B including its 16-bit size, as stored in sealed blobs. */
  tpm2bRaw(): Uint8Array {
    const n = this.u16();
    this.#off -= 2;
    return this.bytes(n + 2);
  }
}

/** Checks that `b` is exactly one TPM2B (size prefix matches the length); returns `b`. */
export function checkTpm2b(what: string, b: Uint8Array): Uint8Array {
  if (b.length < 2 || ((b[0] << 8) | b[1]) !== b.length - 2) {
    throw new Error(`${what} is not a well-formed TPM2B (${b.length} bytes)`);
  }
  return b;
}
