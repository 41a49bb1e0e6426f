/**
 * A minimal HTTP/2-over-TLS client that behaves like a hostile one: it opens gRPC streams without
 * regard for the server's SETTINGS (no stream limit, no flow control) and reports what the server
 * answers per stream. For tests and probes of the server's resource limits only; real clients use
 * grpc-js. Handles exactly what those need: the preface, SETTINGS (+ ACK), HEADERS with literal
 * HPACK fields, DATA, RST_STREAM, GOAWAY and PING.
 */
import tls from "node:tls";
import { Buffer } from "node:buffer";

const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_RST_STREAM = 0x3;
const FRAME_SETTINGS = 0x4;
const FRAME_PING = 0x6;
const FRAME_GOAWAY = 0x7;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;

/** HTTP/2 error code REFUSED_STREAM (RFC 9113 §7). */
export const REFUSED_STREAM = 0x7;
/** SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2). */
export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
/** SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2). */
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;

/** Options of {@link RawH2.connect}. */
export interface RawH2Options {
  host: string;
  port: number;
  /** PEM client certificate and key; none: the client presents no certificate. */
  cert?: string;
  key?: string;
}

function frame(type: number, flags: number, stream: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK integer with an `n`-bit prefix (RFC 7541 §5.1), first byte's high bits zero. */
function hpackInt(v: number, n: number): number[] {
  const max = (1 << n) - 1;
  if (v < max) return [v];
  const out = [max];
  v -= max;
  while (v >= 128) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/**
 * A header block of "literal without indexing, new name" fields (RFC 7541 §6.2.2), opened by a
 * dynamic table size update to 0 (§6.3): a server that lowered SETTINGS_HEADER_TABLE_SIZE (ours
 * sets 0) requires that update in the first block after the change (§4.2), and it is allowed at
 * the start of any block.
 */
function headerBlock(fields: [string, string][]): Uint8Array {
  const out: number[] = [0x20];
  const str = (s: string) => {
    const b = Buffer.from(s);
    out.push(...hpackInt(b.length, 7), ...b);
  };
  for (const [name, value] of fields) {
    out.push(0x00);
    str(name);
    str(value);
  }
  return Uint8Array.from(out);
}

/** A raw HTTP/2 connection; see the module comment. */
export class RawH2 {
  /** The server's SETTINGS as received (id → value). */
  readonly settings = new Map<number, number>();
  /** Streams the server reset, with their error code. */
  readonly resets = new Map<number, number>();
  /** Streams on which the server sent a HEADERS frame. */
  readonly answered = new Set<number>();
  /** The GOAWAY error code, once received. */
  goaway?: number;
  /** Resolves when the connection is closed (by either side). */
  readonly closed: Promise<void>;
  #sock: tls.TLSSocket;
  #buf: Buffer = Buffer.alloc(0);
  #next = 1;
  readonly #settled = Promise.withResolvers<void>();

  private constructor(sock: tls.TLSSocket) {
    this.#sock = sock;
    this.closed = new Promise((r) => sock.once("close", () => r()));
    sock.once("close", () => this.#settled.resolve());
    sock.on("data", (d: Buffer) => this.#read(d));
    sock.on("error", () => {/* ends in close */});
  }

  /** Connects, completes TLS (ALPN h2) and sends the preface and an empty SETTINGS frame. */
  static connect(o: RawH2Options): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const sock = tls.connect({
        host: o.host,
        port: o.port,
        cert: o.cert,
        key: o.key,
        ALPNProtocols: ["h2"],
        rejectUnauthorized: false,
      }, () => {
        sock.off("error", reject);
        sock.write(
          Buffer.concat([Buffer.from(PREFACE), frame(FRAME_SETTINGS, 0, 0, new Uint8Array())]),
        );
        resolve(new RawH2(sock));
      });
      sock.once("error", reject);
    });
  }

  /** Resolves once the server's first SETTINGS frame arrived (or the connection closed). */
  serverSettings(): Promise<void> {
    return this.#settled.promise;
  }

  /**
   * Opens a gRPC call to `path` with one empty request message and END_STREAM (a server-streaming
   * or unary call with an empty request), ignoring every limit. Returns its stream ID.
   */
  call(path: string): number {
    const id = this.#next;
    this.#next += 2;
    const block = headerBlock([
      [":method", "POST"],
      [":scheme", "https"],
      [":path", path],
      [":authority", "probe"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ]);
    this.#sock.write(Buffer.concat([
      frame(FRAME_HEADERS, FLAG_END_HEADERS, id, block),
      frame(FRAME_DATA, FLAG_END_STREAM, id, new Uint8Array(5)),
    ]));
    return id;
  }

  /** Streams opened so far. */
  get opened(): number {
    return (this.#next - 1) / 2;
  }

  /** Closes the connection. */
  close(): void {
    this.#sock.destroy();
  }

  #read(d: Buffer) {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    while (this.#buf.length >= 9) {
      const len = this.#buf.readUIntBE(0, 3);
      if (this.#buf.length < 9 + len) break;
      const type = this.#buf[3];
      const flags = this.#buf[4];
      const stream = this.#buf.readUInt32BE(5) & 0x7fffffff;
      const p = this.#buf.subarray(9, 9 + len);
      this.#buf = this.#buf.subarray(9 + len);
      this.#frame(type, flags, stream, p);
    }
  }

  #frame(type: number, flags: number, stream: number, p: Buffer) {
    switch (type) {
      case FRAME_SETTINGS:
        if (flags & FLAG_ACK) return;
        for (let i = 0; i + 6 <= p.length; i += 6) {
          this.settings.set(p.readUInt16BE(i), p.readUInt32BE(i + 2));
        }
        this.#sock.write(frame(FRAME_SETTINGS, FLAG_ACK, 0, new Uint8Array()));
        this.#settled.resolve();
        return;
      case FRAME_HEADERS:
        this.answered.add(stream);
        return;
      case FRAME_RST_STREAM:
        this.resets.set(stream, p.readUInt32BE(0));
        return;
      case FRAME_GOAWAY:
        this.goaway = p.readUInt32BE(4);
        return;
      case FRAME_PING:
        if (!(flags & FLAG_ACK)) this.#sock.write(frame(FRAME_PING, FLAG_ACK, 0, p));
        return;
    }
  }
}
