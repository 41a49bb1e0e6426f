/**
 * Drops HTTP/2 GOAWAY frames that clients send to our gRPC servers.
 *
 * Deno 2.9.5/2.9.6 can abort inside nghttp2 (`find_stream_on_goaway_func: Assertion
 * stream->closed_next == NULL`) or die of SIGSEGV when a session that has run streams receives a
 * GOAWAY (denoland/deno#36788, open, no fixed release). Every client that closes its channel
 * (grpc-js `close()`, Go's grpc) sends one, so any client could take a node's agent down. A GOAWAY
 * only announces that the peer stops opening streams and then closes the connection; the
 * server loses nothing by not seeing it, because the TCP close that follows ends the session.
 *
 * {@link GoawayFilter} is the pure byte-stream part (client preface, then 9-byte frame headers and
 * payloads, passed through without buffering payloads); {@link filterGoaway} installs it on a
 * socket in place, before the HTTP/2 server reads from it.
 */
import process from "node:process";
import type net from "node:net";

/** The client connection preface (RFC 9113 §3.4). */
const PREFACE_LENGTH = 24;
const FRAME_HEADER = 9;
const GOAWAY = 0x7;
const EMPTY = new Uint8Array(0);

/** Streaming filter of the client → server direction of one HTTP/2 connection. */
export class GoawayFilter {
  #preface = PREFACE_LENGTH;
  /**
   * A frame header split across chunks, collected until whole. Allocated only then: one filter
   * lives per connection, so its idle state is a few numbers (heap per connection on a curator
   * holding thousands of nodes).
   */
  #carry?: Uint8Array;
  #carryFill = 0;
  /** Payload bytes of the current frame still to pass (or to drop). */
  #remaining = 0;
  #dropping = false;
  /** GOAWAY frames dropped so far. */
  dropped = 0;

  /**
   * Returns the bytes of `chunk` to pass on (GOAWAY frames removed): `chunk` itself when nothing
   * is cut from it (the usual case, no copy), else its kept parts in one new buffer.
   */
  push(chunk: Uint8Array): Uint8Array {
    const out: Uint8Array[] = [];
    const n = chunk.length;
    /** Start of the bytes of `chunk` kept since the last cut. */
    let run = 0;
    let i = 0;
    while (i < n) {
      if (this.#preface > 0) {
        const k = Math.min(this.#preface, n - i);
        this.#preface -= k;
        i += k;
      } else if (this.#remaining > 0) {
        const k = Math.min(this.#remaining, n - i);
        if (this.#dropping) {
          if (i > run) out.push(chunk.subarray(run, i));
          run = i + k;
        }
        this.#remaining -= k;
        i += k;
      } else if (this.#carry === undefined && n - i >= FRAME_HEADER) {
        this.#startFrame(chunk, i);
        if (this.#dropping) {
          if (i > run) out.push(chunk.subarray(run, i));
          run = i + FRAME_HEADER;
        }
        i += FRAME_HEADER;
      } else {
        // A header split across chunks: withheld until whole, then passed unless a GOAWAY's.
        if (i > run) out.push(chunk.subarray(run, i));
        const carry = this.#carry ??= new Uint8Array(FRAME_HEADER);
        const k = Math.min(FRAME_HEADER - this.#carryFill, n - i);
        carry.set(chunk.subarray(i, i + k), this.#carryFill);
        this.#carryFill += k;
        i += k;
        run = i;
        if (this.#carryFill === FRAME_HEADER) {
          this.#startFrame(carry, 0);
          if (!this.#dropping) out.push(carry);
          this.#carry = undefined;
          this.#carryFill = 0;
        }
      }
    }
    if (run === 0 && out.length === 0) return chunk;
    if (n > run) out.push(chunk.subarray(run, n));
    return out.length === 0 ? EMPTY : coalesce(out);
  }

  /** Starts the frame whose header is `h[at..at+9)`. */
  #startFrame(h: Uint8Array, at: number): void {
    this.#remaining = (h[at] << 16) | (h[at + 1] << 8) | h[at + 2];
    this.#dropping = h[at + 3] === GOAWAY;
    if (this.#dropping) this.dropped++;
  }
}

/** The bytes of `chunks` in one buffer (the only chunk itself when there is one). */
export function coalesce(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let len = 0;
  for (const c of chunks) len += c.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * Installs a {@link GoawayFilter} on `socket` and returns `socket`: whoever reads it (the HTTP/2
 * server) receives what the client sends without GOAWAY frames; writes are unchanged except that
 * those of one tick go out together ({@link coalesceWrites}).
 *
 * In place, by wrapping the socket's Readable `push` (through which node:net and node:tls hand
 * every received chunk to the stream, and so to `data` listeners and `read()`), not as a Duplex
 * around the socket: the Duplex was one more stream per connection (its two stream states, a
 * dozen closures, accessor properties that put each instance's properties into dictionary mode)
 * and one more stream hop per frame. At 3,000 heartbeating nodes the leader's V8 old space went
 * from 90-91 to 82 MiB (≈ 3 KiB per connection); docs/benchmarks.md (Open gaps).
 */
export function filterGoaway<S extends net.Socket>(socket: S): S {
  const filter = new GoawayFilter();
  const push = socket.push;
  socket.push = function (this: S, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (!(chunk instanceof Uint8Array)) return push.call(this, chunk, encoding);
    const pass = filter.push(chunk);
    return pass.length === 0 || push.call(this, pass);
  };
  coalesceWrites(socket);
  return socket;
}

/**
 * Makes the writes issued on `socket` within one tick one socket write (one TLS record, one
 * system call) instead of one per call: Deno's node:http2 writes every frame separately. Corks
 * at the first write of a tick and uncorks on the next tick; the socket's `writev` then joins the
 * buffered chunks natively. A GetNodes of 10,000 nodes is 10,000 DATA frames; written one by one,
 * the socket write was ≈ 11 µs of the leader's CPU per frame (CPU profile of the getnodes bench).
 */
function coalesceWrites(socket: net.Socket): void {
  const write = socket.write;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  socket.write = function (this: net.Socket, ...args: unknown[]): boolean {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as net.Socket["write"];
}
