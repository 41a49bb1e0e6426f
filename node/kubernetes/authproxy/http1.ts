/**
 * The HTTP/1.1 framing the authproxy needs to rewrite request heads on a kept-alive connection
 * (RFC 9112): reading a head, parsing it strictly, and copying exactly one message body
 * (Content-Length, chunked or until close) so the next head is found where the apiserver will
 * look for it. Strictness is the point: the authproxy must never see a message boundary or a
 * header line differently from the apiserver behind it (request smuggling, header injection), so
 * anything ambiguous — bare CR/LF, obs-fold, whitespace before the colon, Transfer-Encoding with
 * Content-Length, conflicting lengths — is rejected, never repaired.
 */
import type { Duplex } from "node:stream";

/** A head or body that must not be forwarded; `status` is what to answer (400, 431, 501). */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "HttpError";
  }
}

/** Latin-1 decoding (one char per byte): header bytes ≥ 0x80 survive a round trip unchanged. */
export function latin1Decode(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) {
    s += String.fromCharCode(...b.subarray(i, i + 8192));
  }
  return s;
}

/** Latin-1 encoding, the inverse of {@link latin1Decode} (callers pass only chars < 256). */
export function latin1Encode(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/**
 * Pull-style reader over a node stream with push-back, pausing the socket while enough is
 * buffered (backpressure towards the sender).
 */
export class StreamReader {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error?: Error;
  #wake?: () => void;

  constructor(private readonly stream: Duplex, private readonly highWater = 256 * 1024) {
    stream.on("data", (c: Uint8Array) => {
      this.#chunks.push(c);
      this.#buffered += c.length;
      if (this.#buffered >= this.highWater) stream.pause();
      this.#notify();
    });
    stream.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    stream.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    stream.on("error", (e: Error) => {
      this.#error ??= e;
      this.#notify();
    });
  }

  #notify() {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /**
   * The next buffered bytes (at most `max`), waiting for data; null at end of stream. Throws the
   * stream's error.
   */
  async read(max = Infinity): Promise<Uint8Array | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((r) => this.#wake = r);
    }
    let c = this.#chunks.shift()!;
    if (c.length > max) {
      this.#chunks.unshift(c.subarray(max));
      c = c.subarray(0, max);
    }
    this.#buffered -= c.length;
    if (this.#buffered < this.highWater && this.stream.isPaused()) this.stream.resume();
    return c;
  }

  /** Puts bytes back in front of the buffer (read too far). */
  unread(b: Uint8Array): void {
    if (b.length === 0) return;
    this.#chunks.unshift(b);
    this.#buffered += b.length;
  }

  /**
   * Reads up to and including the first CRLF CRLF (a message head, at most `limit` bytes) and
   * returns it as Latin-1 text without the final empty line. Leading empty lines are skipped
   * (RFC 9112 §2.2). Returns null at end of stream before any byte; throws {@link HttpError}
   * 431 when the head exceeds `limit`, 400 when the stream ends inside the head.
   */
  async readHead(limit: number): Promise<string | null> {
    let acc = new Uint8Array(0);
    for (;;) {
      const c = await this.read();
      if (c === null) {
        if (acc.length === 0) return null;
        throw new HttpError(400, "connection closed inside a message head");
      }
      const prev = acc.length;
      const next = new Uint8Array(prev + c.length);
      next.set(acc);
      next.set(c, prev);
      acc = next;
      let start = 0;
      while (acc.length - start >= 2 && acc[start] === 13 && acc[start + 1] === 10) start += 2;
      const end = indexOfCrlfCrlf(acc, Math.max(start, prev - 3));
      if (end >= 0) {
        this.unread(acc.subarray(end + 4));
        if (end + 4 - start > limit) throw new HttpError(431, "message head too large");
        return latin1Decode(acc.subarray(start, end + 2));
      }
      if (acc.length - start > limit) throw new HttpError(431, "message head too large");
    }
  }

  /** Reads one CRLF-terminated line (without the CRLF) of at most `limit` bytes. */
  async readLine(limit: number): Promise<string> {
    let acc = new Uint8Array(0);
    for (;;) {
      const c = await this.read();
      if (c === null) throw new HttpError(400, "connection closed inside a chunked body");
      const prev = acc.length;
      const next = new Uint8Array(prev + c.length);
      next.set(acc);
      next.set(c, prev);
      acc = next;
      for (let i = Math.max(1, prev); i < acc.length; i++) {
        if (acc[i] === 10 && acc[i - 1] === 13) {
          this.unread(acc.subarray(i + 1));
          if (i - 1 > limit) throw new HttpError(400, "chunk line too long");
          return latin1Decode(acc.subarray(0, i - 1));
        }
      }
      if (acc.length > limit + 2) throw new HttpError(400, "chunk line too long");
    }
  }
}

function indexOfCrlfCrlf(b: Uint8Array, from: number): number {
  for (let i = Math.max(0, from); i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

/** Writes with backpressure: resolves once the stream accepted more data; throws when closed. */
export async function writeAll(stream: Duplex, b: Uint8Array): Promise<void> {
  if (stream.destroyed || stream.writableEnded) throw new Error("stream closed");
  if (stream.write(b)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (e?: Error) => {
      stream.off("drain", ok);
      stream.off("close", closed);
      if (e) reject(e);
      else resolve();
    };
    const ok = () => done();
    const closed = () => done(new Error("stream closed"));
    stream.on("drain", ok);
    stream.on("close", closed);
  });
}

/** One header field as received (name in its original case). */
export type Header = [name: string, value: string];

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: HTAB, SP, VCHAR, obs-text. No CR, LF, NUL or other controls.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Parses `Name: value` lines (the part of a head after the start line). */
export function parseFields(lines: string[]): Header[] {
  const out: Header[] = [];
  for (const line of lines) {
    if (line.startsWith(" ") || line.startsWith("\t")) {
      throw new HttpError(400, "obsolete line folding in header");
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpError(400, "malformed header line");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpError(400, "invalid header name");
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_VALUE.test(value)) throw new HttpError(400, "invalid character in header value");
    out.push([name, value]);
  }
  return out;
}

function splitLines(head: string): string[] {
  // The head ends in CRLF; a bare CR or LF inside stays in a line and fails validation there.
  const lines = head.split("\r\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/** A parsed request head. */
export interface RequestHead {
  method: string;
  target: string;
  /** "1.0" or "1.1". */
  version: string;
  headers: Header[];
}

/** Parses a request head as {@link StreamReader.readHead} returns it. */
export function parseRequestHead(head: string): RequestHead {
  const [start, ...rest] = splitLines(head);
  const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/(1\.[01])$/.exec(
    start ?? "",
  );
  if (!m) throw new HttpError(400, "malformed request line");
  return { method: m[1], target: m[2], version: m[3], headers: parseFields(rest) };
}

/** Serializes a request head (with the final empty line). */
export function formatRequestHead(h: RequestHead): Uint8Array {
  let s = `${h.method} ${h.target} HTTP/${h.version}\r\n`;
  for (const [n, v] of h.headers) s += `${n}: ${v}\r\n`;
  return latin1Encode(s + "\r\n");
}

/** A parsed response head. */
export interface ResponseHead {
  status: number;
  headers: Header[];
}

/** Parses a response head as {@link StreamReader.readHead} returns it. */
export function parseResponseHead(head: string): ResponseHead {
  const [start, ...rest] = splitLines(head);
  const m = /^HTTP\/1\.[01] (\d{3})(?: [\t\x20-\x7e\x80-\xff]*)?$/.exec(start ?? "");
  if (!m) throw new HttpError(502, "malformed status line from upstream");
  return { status: Number(m[1]), headers: parseFields(rest) };
}

/** All values of header `name` (case-insensitive). */
export function headerValues(headers: Header[], name: string): string[] {
  const lower = name.toLowerCase();
  return headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** Comma-separated tokens of every `name` header, lower-cased, empty ones dropped. */
export function headerTokens(headers: Header[], name: string): string[] {
  return headerValues(headers, name).flatMap((v) => v.split(","))
    .map((t) => t.trim().toLowerCase()).filter((t) => t !== "");
}

/** How a message body ends. */
export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

function contentLength(headers: Header[]): number | undefined {
  const values = headerValues(headers, "content-length").flatMap((v) => v.split(","))
    .map((v) => v.trim());
  if (values.length === 0) return undefined;
  if (!values.every((v) => v === values[0]) || !/^\d{1,15}$/.test(values[0])) {
    throw new HttpError(400, "invalid Content-Length");
  }
  return Number(values[0]);
}

/** Body framing of a request (RFC 9112 §6.3, cases 3–6 for requests). */
export function requestFraming(headers: Header[]): Framing {
  const te = headerTokens(headers, "transfer-encoding");
  const hasTe = headerValues(headers, "transfer-encoding").length > 0;
  if (hasTe) {
    if (headerValues(headers, "content-length").length > 0) {
      throw new HttpError(400, "both Transfer-Encoding and Content-Length");
    }
    if (te.length !== 1 || te[0] !== "chunked") {
      throw new HttpError(501, "unsupported Transfer-Encoding");
    }
    return { kind: "chunked" };
  }
  const n = contentLength(headers);
  return n === undefined || n === 0 ? { kind: "none" } : { kind: "length", length: n };
}

/** Body framing of a response to a request with `method` (RFC 9112 §6.3). */
export function responseFraming(headers: Header[], status: number, method: string): Framing {
  if (method === "HEAD" || (status >= 100 && status < 200) || status === 204 || status === 304) {
    return { kind: "none" };
  }
  const te = headerTokens(headers, "transfer-encoding");
  if (headerValues(headers, "transfer-encoding").length > 0) {
    return te.at(-1) === "chunked" ? { kind: "chunked" } : { kind: "close" };
  }
  const n = contentLength(headers);
  if (n === undefined) return { kind: "close" };
  return n === 0 ? { kind: "none" } : { kind: "length", length: n };
}

const MAX_CHUNK_LINE = 4096;
const CHUNK_LINE = /^([0-9A-Fa-f]{1,12})(;[\t\x20-\x7e\x80-\xff]*)?$/;

/** Options of {@link copyBody}. */
export interface CopyBodyOptions {
  /** Bound of the trailer section of a chunked body. */
  maxTrailer: number;
  /** Whether a trailer field may be forwarded (e.g. drop `X-Remote-*`). */
  keepTrailer?: (name: string) => boolean;
}

/**
 * Copies one message body framed as `f` from `from` to `to`, leaving `from` positioned at the
 * next message. Chunked bodies are validated line by line while they are copied. Returns false
 * when the body was delimited by the end of the stream (the connection is finished).
 */
export async function copyBody(
  from: StreamReader,
  to: Duplex,
  f: Framing,
  o: CopyBodyOptions,
): Promise<boolean> {
  switch (f.kind) {
    case "none":
      return true;
    case "length":
      await copyExactly(from, to, f.length);
      return true;
    case "close":
      for (let c = await from.read(); c !== null; c = await from.read()) await writeAll(to, c);
      return false;
    case "chunked":
      for (;;) {
        const line = await from.readLine(MAX_CHUNK_LINE);
        const m = CHUNK_LINE.exec(line);
        if (!m) throw new HttpError(400, "malformed chunk size line");
        await writeAll(to, latin1Encode(line + "\r\n"));
        const size = parseInt(m[1], 16);
        if (size === 0) break;
        await copyExactly(from, to, size);
        if ((await from.readLine(0)) !== "") throw new HttpError(400, "chunk not followed by CRLF");
        await writeAll(to, latin1Encode("\r\n"));
      }
      await copyTrailer(from, to, o);
      return true;
  }
}

async function copyExactly(from: StreamReader, to: Duplex, n: number): Promise<void> {
  while (n > 0) {
    const c = await from.read(n);
    if (c === null) throw new HttpError(400, "connection closed inside a message body");
    n -= c.length;
    await writeAll(to, c);
  }
}

async function copyTrailer(from: StreamReader, to: Duplex, o: CopyBodyOptions): Promise<void> {
  const lines: string[] = [];
  let size = 0;
  for (;;) {
    const line = await from.readLine(o.maxTrailer);
    size += line.length + 2;
    if (size > o.maxTrailer) throw new HttpError(400, "trailer section too large");
    if (line === "") break;
    lines.push(line);
  }
  let out = "";
  for (const [n, v] of parseFields(lines)) {
    if (!o.keepTrailer || o.keepTrailer(n)) out += `${n}: ${v}\r\n`;
  }
  await writeAll(to, latin1Encode(out + "\r\n"));
}
