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
 * payloads, passed through without buffering payloads); {@link filterGoaway} wraps a socket in a
 * Duplex that the HTTP/2 server reads through it.
 */
import { Duplex } from "node:stream";
import type { Buffer } from "node:buffer";
import type net from "node:net";

/** The client connection preface (RFC 9113 §3.4). */
const PREFACE_LENGTH = 24;
const FRAME_HEADER = 9;
const GOAWAY = 0x7;

/** Streaming filter of the client → server direction of one HTTP/2 connection. */
export class GoawayFilter {
  #preface = PREFACE_LENGTH;
  #header = new Uint8Array(FRAME_HEADER);
  #headerFill = 0;
  /** Payload bytes of the current frame still to pass (or to drop). */
  #remaining = 0;
  #dropping = false;
  /** GOAWAY frames dropped so far. */
  dropped = 0;

  /** Returns the bytes of `chunk` to pass on (GOAWAY frames removed). */
  push(chunk: Uint8Array): Uint8Array {
    const out: Uint8Array[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.#preface > 0) {
        const n = Math.min(this.#preface, chunk.length - i);
        out.push(chunk.subarray(i, i + n));
        this.#preface -= n;
        i += n;
      } else if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, chunk.length - i);
        if (!this.#dropping) out.push(chunk.subarray(i, i + n));
        this.#remaining -= n;
        i += n;
      } else {
        const n = Math.min(FRAME_HEADER - this.#headerFill, chunk.length - i);
        this.#header.set(chunk.subarray(i, i + n), this.#headerFill);
        this.#headerFill += n;
        i += n;
        if (this.#headerFill < FRAME_HEADER) break;
        this.#headerFill = 0;
        const h = this.#header;
        this.#remaining = (h[0] << 16) | (h[1] << 8) | h[2];
        this.#dropping = h[3] === GOAWAY;
        if (this.#dropping) this.dropped++;
        else out.push(h.slice());
      }
    }
    return out.length === 0 ? new Uint8Array(0) : coalesce(out);
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
 * A Duplex over `socket` for an HTTP/2 server: what the client sends arrives without GOAWAY
 * frames; what the server writes goes to the socket unchanged. Carries the socket's addresses
 * (the server names calls after `remoteAddress:remotePort`).
 */
export function filterGoaway(socket: net.Socket): Duplex {
  const filter = new GoawayFilter();
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    // Frames the server writes while the socket's previous write is in flight arrive here
    // together: one socket write (one TLS record, one system call) instead of one per frame.
    // A GetNodes of 10,000 nodes is 10,000 DATA frames; written one by one, the socket write
    // was ≈ 11 µs of the leader's CPU per frame (CPU profile of the getnodes bench).
    writev(chunks: { chunk: Buffer }[], cb) {
      socket.write(coalesce(chunks.map((c) => c.chunk)), cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  socket.on("data", (b: Buffer) => {
    const pass = filter.push(b);
    if (pass.length && !d.push(pass)) socket.pause();
  });
  socket.on("end", () => d.push(null));
  socket.on("close", () => d.destroy());
  socket.on("error", (e) => d.destroy(e));
  for (const k of ["remoteAddress", "remotePort", "remoteFamily", "localAddress", "localPort"]) {
    Object.defineProperty(d, k, { get: () => (socket as unknown as Record<string, unknown>)[k] });
  }
  const self = d as unknown as Record<string, unknown>;
  self.setTimeout = (ms: number, cb?: () => void) => (socket.setTimeout(ms, cb), d);
  self.setNoDelay = (v?: boolean) => (socket.setNoDelay(v), d);
  self.setKeepAlive = (v?: boolean, ms?: number) => (socket.setKeepAlive(v, ms), d);
  return d;
}
