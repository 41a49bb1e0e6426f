/**
 * A UDP socket bound to one network device, through libc FFI: DHCP must send from 0.0.0.0 before
 * the interface has an address, broadcast, and receive only on its own interface — none of which
 * Deno.listenDatagram or node:dgram can do (no SO_BINDTODEVICE). Waiting happens in `poll` on
 * FFI's worker thread in slices of ≤ 250 ms so an abort is noticed promptly; the receive itself
 * is a non-blocking `recvfrom` on the JS thread (errno is only meaningful there).
 * @module
 */
import { cstr, lazyLibc } from "../sys/libc.ts";
import { check } from "../sys/errno.ts";
import { ipv4Bytes, ipv4String } from "./netlink.ts";

const AF_INET = 2, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0o2000000, SOL_SOCKET = 1;
const SO_REUSEADDR = 2, SO_BROADCAST = 6, SO_BINDTODEVICE = 25;
const MSG_DONTWAIT = 0x40, POLLIN = 1;
const SLICE_MS = 250;

const libc = lazyLibc({
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  recvfrom: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"], result: "isize" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  close: { parameters: ["i32"], result: "i32" },
});

/** `struct sockaddr_in` for `addr:port`. */
export function sockaddrIn(addr: string, port: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint16(0, AF_INET, true);
  b[2] = port >> 8;
  b[3] = port & 255;
  b.set(ipv4Bytes(addr), 4);
  return b;
}

/** A received datagram and its sender. */
export interface Datagram {
  data: Uint8Array;
  from: string;
  port: number;
}

/** A UDP socket bound to `0.0.0.0:<port>` on one device, with broadcast allowed. */
export class DeviceSocket {
  #fd: number;
  #polling?: Promise<number>;
  readonly #buf = new Uint8Array(2048);

  /** Opens the socket on `device`, bound to `port`. Throws {@link SysError}. */
  constructor(readonly device: string, readonly port: number) {
    const s = libc();
    this.#fd = check(s, s.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket", device);
    try {
      const one = new Uint8Array(new Int32Array([1]).buffer);
      const dev = cstr(device);
      check(s, s.setsockopt(this.#fd, SOL_SOCKET, SO_REUSEADDR, one, 4), "setsockopt", device);
      check(s, s.setsockopt(this.#fd, SOL_SOCKET, SO_BROADCAST, one, 4), "setsockopt", device);
      check(
        s,
        s.setsockopt(this.#fd, SOL_SOCKET, SO_BINDTODEVICE, dev, dev.length),
        "setsockopt(SO_BINDTODEVICE)",
        device,
      );
      check(s, s.bind(this.#fd, sockaddrIn("0.0.0.0", port), 16), "bind", `${device}:${port}`);
    } catch (e) {
      s.close(this.#fd);
      throw e;
    }
  }

  /** Sends `data` to `addr:port`. Throws {@link SysError}. */
  send(data: Uint8Array<ArrayBuffer>, addr: string, port: number): void {
    const s = libc();
    check(
      s,
      s.sendto(this.#fd, data, BigInt(data.length), 0, sockaddrIn(addr, port), 16),
      "sendto",
      `${addr}:${port} on ${this.device}`,
    );
  }

  /** Waits up to `timeoutMs` for a datagram; undefined on timeout or abort. */
  async receive(timeoutMs: number, signal?: AbortSignal): Promise<Datagram | undefined> {
    const end = Date.now() + timeoutMs;
    const pfd = new Uint8Array(8);
    const dv = new DataView(pfd.buffer);
    while (!signal?.aborted && this.#fd >= 0) {
      const got = this.#tryReceive();
      if (got) return got;
      const left = end - Date.now();
      if (left <= 0) return undefined;
      dv.setInt32(0, this.#fd, true);
      dv.setInt16(4, POLLIN, true);
      dv.setInt16(6, 0, true);
      this.#polling = libc().poll(pfd, 1n, Math.min(left, SLICE_MS));
      await this.#polling;
      this.#polling = undefined;
    }
    return undefined;
  }

  #tryReceive(): Datagram | undefined {
    const s = libc();
    const from = new Uint8Array(16);
    const fromLen = new Uint8Array(new Uint32Array([16]).buffer);
    const n = Number(
      s.recvfrom(this.#fd, this.#buf, BigInt(this.#buf.length), MSG_DONTWAIT, from, fromLen),
    );
    if (n < 0) return undefined; // EAGAIN: nothing queued
    return {
      data: this.#buf.slice(0, n),
      from: ipv4String(from, 4),
      port: from[2] * 256 + from[3],
    };
  }

  /** Closes the socket (after a poll in flight has returned). */
  async close(): Promise<void> {
    await this.#polling;
    if (this.#fd >= 0) libc().close(this.#fd);
    this.#fd = -1;
  }
}
