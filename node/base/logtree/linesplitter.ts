/**
 * Splits a byte stream into lines. Lines end at `\n` (a trailing `\r` is removed); a very long
 * line is buffered only up to a cap while its full length is still counted, so a child that never
 * prints a newline cannot exhaust memory.
 */

/** Receives one complete line: its (possibly capped) bytes and its full length in bytes. */
export type LineHandler = (line: Uint8Array, originalLength: number) => void;

/** Incremental line splitter over byte chunks. */
export class LineSplitter {
  #chunks: Uint8Array[] = [];
  #kept = 0;
  #length = 0;

  /**
   * @param onLine called for every complete line.
   * @param capBytes bytes of a line kept in memory (default 64 KiB); the rest is only counted.
   */
  constructor(readonly onLine: LineHandler, readonly capBytes = 64 * 1024) {}

  /** Feeds bytes (or a string, encoded as UTF-8). */
  write(chunk: Uint8Array | string): void {
    const b = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    let start = 0;
    for (;;) {
      const nl = b.indexOf(10, start);
      if (nl < 0) {
        this.#append(b.subarray(start));
        return;
      }
      this.#append(b.subarray(start, nl));
      this.#emit();
      start = nl + 1;
    }
  }

  /** Emits a final line without newline, if any bytes are pending. */
  flush(): void {
    if (this.#length > 0) this.#emit();
  }

  #append(b: Uint8Array) {
    this.#length += b.length;
    const room = this.capBytes - this.#kept;
    if (room <= 0 || b.length === 0) return;
    const part = b.length <= room ? b.slice() : b.slice(0, room);
    this.#chunks.push(part);
    this.#kept += part.length;
  }

  #emit() {
    let line: Uint8Array;
    if (this.#chunks.length === 1) line = this.#chunks[0];
    else {
      line = new Uint8Array(this.#kept);
      let o = 0;
      for (const c of this.#chunks) {
        line.set(c, o);
        o += c.length;
      }
    }
    let len = this.#length;
    // Strip a CR of a CRLF line ending, but only when the CR is part of the kept bytes.
    if (line.length > 0 && line.length === len && line[line.length - 1] === 13) {
      line = line.subarray(0, line.length - 1);
      len--;
    }
    this.#chunks = [];
    this.#kept = 0;
    this.#length = 0;
    this.onLine(line, len);
  }
}

/** Decodes at most `maxBytes` of UTF-8 `bytes`, never splitting a multi-byte character. */
export function decodeCut(bytes: Uint8Array, maxBytes: number): string {
  if (bytes.length <= maxBytes) return new TextDecoder().decode(bytes);
  let end = maxBytes;
  // Back off over continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}
