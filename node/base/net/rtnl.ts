/**
 * rtnetlink over libc FFI (`AF_NETLINK`/`NETLINK_ROUTE`): links (create, delete, up), IPv4
 * addresses and routes, link and address dumps; the same socket class carries generic netlink
 * (`NETLINK_GENERIC`, node/base/wireguard). There is no `ip` binary on the node, and Deno has no
 * netlink API. Requests are synchronous on the JS thread: the kernel answers a route request at
 * once, and a 2 s receive timeout keeps a lost answer from hanging the agent.
 * @module
 */
import { lazyLibc } from "../sys/libc.ts";
import { check, errnoName } from "../sys/errno.ts";
import {
  addrDumpMessage,
  type Address,
  addrMessage,
  errorCode,
  type Link,
  linkAddMessage,
  type LinkChange,
  linkDelMessage,
  linkDumpMessage,
  linkSetMessage,
  linkUpMessage,
  NLMSG,
  parseAddress,
  parseLink,
  type Route,
  routeMessage,
  RTM,
  splitMessages,
} from "./netlink.ts";

const AF_NETLINK = 16, SOCK_RAW = 3, SOCK_CLOEXEC = 0o2000000;
/** Netlink protocols this socket speaks: rtnetlink, and generic netlink (WireGuard). */
export const NETLINK = { ROUTE: 0, GENERIC: 16 } as const;
const SOL_SOCKET = 1, SO_RCVTIMEO = 20;

const libc = lazyLibc({
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
});

/** A netlink request the kernel refused: errno plus what was asked. */
export class NetlinkError extends Error {
  /** Builds the error from the request description and the kernel's errno. */
  constructor(readonly what: string, readonly errno: number) {
    super(`netlink ${what}: ${errnoName(errno)}`);
  }
}

/**
 * An open netlink socket, rtnetlink unless another protocol is given (the request/dump machinery
 * is the same for generic netlink); {@link close} it when done.
 */
export class Rtnl {
  #fd: number;
  #seq = 1;
  readonly #buf = new Uint8Array(65536);

  /** Opens and binds the socket. Throws {@link SysError}. */
  constructor(protocol: number = NETLINK.ROUTE) {
    const s = libc();
    this.#fd = check(
      s,
      s.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol),
      "socket",
      "AF_NETLINK",
    );
    try {
      const sa = new Uint8Array(12); // sockaddr_nl: family, pad, pid 0 (kernel assigns), groups 0
      new DataView(sa.buffer).setUint16(0, AF_NETLINK, true);
      check(s, s.bind(this.#fd, sa, 12), "bind", "AF_NETLINK");
      const tv = new Uint8Array(new BigInt64Array([2n, 0n]).buffer);
      check(s, s.setsockopt(this.#fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16), "setsockopt", "RCVTIMEO");
    } catch (e) {
      s.close(this.#fd);
      throw e;
    }
  }

  /** Closes the socket. */
  close(): void {
    if (this.#fd >= 0) libc().close(this.#fd);
    this.#fd = -1;
  }

  #send(msg: Uint8Array): void {
    const s = libc();
    check(s, s.send(this.#fd, msg, BigInt(msg.length), 0), "send", "netlink");
  }

  #recv(): Uint8Array {
    const s = libc();
    const n = check(s, s.recv(this.#fd, this.#buf, BigInt(this.#buf.length), 0), "recv", "netlink");
    return this.#buf.slice(0, n);
  }

  /** Sends `build(seq)` and waits for its ACK; a non-zero error becomes {@link NetlinkError}. */
  request(what: string, build: (seq: number) => Uint8Array): void {
    const seq = this.#seq++;
    this.#send(build(seq));
    for (;;) {
      for (const m of splitMessages(this.#recv())) {
        if (m.seq !== seq || m.type !== NLMSG.ERROR) continue;
        const err = errorCode(m.payload);
        if (err !== 0) throw new NetlinkError(what, err);
        return;
      }
    }
  }

  /**
   * Sends `build(seq)` (which must ask for an ACK) and returns the payload of the reply of type
   * `type` that precedes the ACK; {@link NetlinkError} if the kernel refuses.
   */
  query(what: string, build: (seq: number) => Uint8Array, type: number): Uint8Array {
    const seq = this.#seq++;
    this.#send(build(seq));
    let reply: Uint8Array | undefined;
    for (;;) {
      for (const m of splitMessages(this.#recv())) {
        if (m.seq !== seq) continue;
        if (m.type === type) reply = m.payload;
        if (m.type !== NLMSG.ERROR) continue;
        const err = errorCode(m.payload);
        if (err !== 0) throw new NetlinkError(what, err);
        if (!reply) throw new Error(`netlink ${what}: acknowledged without a reply`);
        return reply;
      }
    }
  }

  /** Sends a dump request and returns the payloads of every message of type `type`. */
  dump(build: (seq: number) => Uint8Array, type: number): Uint8Array[] {
    const seq = this.#seq++;
    this.#send(build(seq));
    const out: Uint8Array[] = [];
    for (;;) {
      for (const m of splitMessages(this.#recv())) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG.DONE) return out;
        if (m.type === NLMSG.ERROR) throw new NetlinkError("dump", errorCode(m.payload));
        if (m.type === type) out.push(m.payload);
      }
    }
  }

  /** Every link of this network namespace. */
  links(): Link[] {
    return this.dump(linkDumpMessage, RTM.NEWLINK).map(parseLink);
  }

  /** Every IPv4 address of this network namespace. */
  addresses(): Address[] {
    return this.dump(addrDumpMessage, RTM.NEWADDR).map(parseAddress).filter((a) => a !== undefined);
  }

  /** Creates link `name` of `kind` (EEXIST if a link of that name exists); returns its index. */
  linkAdd(name: string, kind: string, mtu?: number): number {
    this.request(`add ${kind} link ${name}`, (seq) => linkAddMessage(seq, name, kind, mtu));
    const l = this.links().find((l) => l.name === name);
    if (!l) throw new Error(`link ${name} vanished right after it was created`);
    return l.index;
  }

  /** Deletes link `index` (its addresses and routes go with it). */
  linkDelete(index: number): void {
    this.request(`delete link ${index}`, (seq) => linkDelMessage(seq, index));
  }

  /** Sets IFF_UP on link `index`. */
  linkUp(index: number): void {
    this.request(`link ${index} up`, (seq) => linkUpMessage(seq, index));
  }

  /** Changes link `index` (up/down, name, MTU). A rename needs the link down. */
  linkSet(index: number, c: LinkChange): void {
    this.request(`set link ${index} ${JSON.stringify(c)}`, (seq) => linkSetMessage(seq, index, c));
  }

  /** Adds or replaces `addr/prefixLen` on link `index` (idempotent). */
  addressReplace(index: number, addr: string, prefixLen: number): void {
    this.request(
      `add address ${addr}/${prefixLen} on ${index}`,
      (seq) => addrMessage(seq, index, addr, prefixLen, "replace"),
    );
  }

  /** Removes `addr/prefixLen` from link `index`; an absent address is fine. */
  addressDelete(index: number, addr: string, prefixLen: number): void {
    try {
      this.request(
        `delete address ${addr}/${prefixLen} on ${index}`,
        (seq) => addrMessage(seq, index, addr, prefixLen, "del"),
      );
    } catch (e) {
      if (!(e instanceof NetlinkError && e.errno === 99)) throw e; // EADDRNOTAVAIL
    }
  }

  /** Adds or replaces a route (idempotent). */
  routeReplace(r: Route): void {
    this.request(
      `route ${r.dst}/${r.dstLen}${r.gateway ? ` via ${r.gateway}` : ""}`,
      (seq) => routeMessage(seq, r, "replace"),
    );
  }
}
