/** Reads exact byte counts from a node:net socket during a handshake, then hands it back. */
import type net from "node:net";
import { Buffer } from "node:buffer";

/** Pulls bytes off a socket on demand; {@link release} returns bytes read past the handshake. */
export class HandshakeReader {
  #buf: Buffer = Buffer.alloc(0);
  #waiter?: () => void;
  #error?: Error;
  #ended = false;
  readonly #sock: net.Socket;
  readonly #onData = (d: Buffer) => {
    this.#buf = Buffer.concat([this.#buf, d]);
    this.#wake();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#wake();
  };
  readonly #onError = (e: Error) => {
    this.#error = e;
    this.#wake();
  };

  /** Starts buffering `sock`'s data. */
  constructor(sock: net.Socket) {
    this.#sock = sock;
    sock.on("data", this.#onData);
    sock.on("end", this.#onEnd);
    sock.on("error", this.#onError);
  }

  #wake() {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /** Resolves with exactly `n` bytes; rejects when the peer closes first. */
  async read(n: number): Promise<Buffer> {
    while (this.#buf.length < n) {
      if (this.#error) throw this.#error;
      if (this.#ended) throw new Error("socks: connection closed during handshake");
      await new Promise<void>((r) => this.#waiter = r);
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Stops buffering; returns bytes already received beyond what was read. */
  release(): Buffer {
    this.#sock.off("data", this.#onData);
    this.#sock.off("end", this.#onEnd);
    this.#sock.off("error", this.#onError);
    this.#sock.pause();
    return this.#buf;
  }
}
