/**
 * DHCPv4 client state machine (RFC 2131 §4.4) for one interface: INIT (broadcast DISCOVER) →
 * SELECTING (first OFFER) → REQUESTING (broadcast REQUEST, ACK or NAK) → BOUND → at T1
 * RENEWING (REQUEST unicast to the server) → at T2 REBINDING (REQUEST broadcast) → at expiry the
 * lease is lost and the client starts over. Configuring the kernel is the caller's business
 * ({@link DhcpHooks}); this module only speaks the protocol.
 *
 * Retransmissions start at 1 s and double up to 16 s (RFC 2131 suggests 4 s → 64 s; a node
 * waits for its address before anything else works, so it asks more eagerly).
 * @module
 */
import { delay as sleep } from "../delay/delay.ts";
import {
  buildRequest,
  DHCP,
  type Lease,
  leaseOf,
  messageType,
  type Packet,
  parsePacket,
  type Request,
} from "./dhcp_message.ts";

/** Where the client's packets go: a socket on the interface, or a fake in tests. */
export interface DhcpTransport {
  send(data: Uint8Array<ArrayBuffer>, addr: string, port: number): void;
  receive(timeoutMs: number, signal?: AbortSignal): Promise<{ data: Uint8Array } | undefined>;
}

/** What the client reports. Errors thrown by a hook end {@link runDhcpClient}. */
export interface DhcpHooks {
  /** A lease was acknowledged: new, renewed (same `address`) or changed. */
  bound(lease: Lease, previous: Lease | undefined): void | Promise<void>;
  /** The lease expired or the server refused it (NAK): its address must go. */
  lost(lease: Lease, why: string): void | Promise<void>;
}

/** Minimal logger: one line per event. */
export interface DhcpLogger {
  info(msg: string): void;
  warning(msg: string): void;
}

/** Options of {@link runDhcpClient}. */
export interface DhcpClientOptions {
  iface: string;
  mac: string;
  transport: DhcpTransport;
  hooks: DhcpHooks;
  logger: DhcpLogger;
  signal: AbortSignal;
  /** Clock in ms (injectable for tests). */
  now?: () => number;
}

const SERVER_PORT = 67;
const BROADCAST = "255.255.255.255";

function randomXid(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** Runs the client until `signal` aborts. */
export async function runDhcpClient(o: DhcpClientOptions): Promise<void> {
  const now = o.now ?? Date.now;
  let lease: Lease | undefined;
  /** When the current lease was requested: its times count from there (RFC 2131 §4.4.5). */
  let leaseStart = 0;
  let delay = 1000;

  /**
   * Sends `req` to `to` and waits for an answer to its xid, retransmitting with backoff until
   * `deadline`; returns the first OFFER/ACK/NAK accepted by `want`, or undefined.
   */
  const exchange = async (
    req: Request,
    to: string,
    want: number[],
    deadline: number,
    retransmit: () => number,
  ): Promise<Packet | undefined> => {
    const start = now();
    while (!o.signal.aborted && now() < deadline) {
      req.secs = Math.floor((now() - start) / 1000);
      try {
        o.transport.send(buildRequest(req), to, SERVER_PORT);
      } catch (e) {
        o.logger.warning(`${o.iface}: dhcp send to ${to} failed: ${(e as Error).message}`);
      }
      const until = Math.min(deadline, now() + retransmit());
      for (;;) {
        const left = until - now();
        if (left <= 0 || o.signal.aborted) break;
        const d = await o.transport.receive(left, o.signal);
        if (!d) continue;
        let p: Packet;
        try {
          p = parsePacket(d.data);
        } catch {
          continue; // not DHCP
        }
        if (p.op !== 2 || p.xid !== req.xid || p.chaddr !== o.mac) continue; // not for us
        if (want.includes(messageType(p))) return p;
      }
    }
    return undefined;
  };
  const backoff = () => {
    const d = delay + Math.floor(Math.random() * 200);
    delay = Math.min(delay * 2, 16_000);
    return d;
  };
  const lose = async (why: string) => {
    if (!lease) return;
    o.logger.info(`${o.iface}: lost lease of ${lease.address}: ${why}`);
    const l = lease;
    lease = undefined;
    await o.hooks.lost(l, why);
  };
  const bind = async (p: Packet, start: number, renewal: boolean) => {
    const next = leaseOf(p);
    const prev = lease;
    lease = next;
    leaseStart = start;
    const changed = !prev || prev.address !== next.address || prev.prefixLen !== next.prefixLen ||
      prev.routers.join() !== next.routers.join() || prev.dns.join() !== next.dns.join();
    // Renewals that change nothing stay quiet: a 30 s lease renews every 15 s.
    if (changed || !renewal) {
      o.logger.info(
        `${o.iface}: leased ${next.address}/${next.prefixLen} from ${next.serverId}` +
          `, router ${next.routers[0] ?? "none"}` +
          (next.dns.length ? `, dns ${next.dns.join(" ")}` : "") +
          `, lease ${next.leaseSeconds}s`,
      );
    }
    await o.hooks.bound(next, prev);
  };

  while (!o.signal.aborted) {
    if (!lease) {
      // INIT → SELECTING → REQUESTING.
      delay = 1000;
      const xid = randomXid();
      const offer = await exchange(
        { type: DHCP.DISCOVER, xid, mac: o.mac },
        BROADCAST,
        [DHCP.OFFER],
        Infinity,
        backoff,
      );
      if (!offer) break; // aborted
      const offered = leaseOf(offer);
      delay = 1000;
      const start = now();
      const ack = await exchange(
        {
          type: DHCP.REQUEST,
          xid,
          mac: o.mac,
          requestedIp: offered.address,
          serverId: offered.serverId,
        },
        BROADCAST,
        [DHCP.ACK, DHCP.NAK],
        now() + 30_000,
        backoff,
      );
      if (!ack) continue; // no answer: start over with a new DISCOVER
      if (messageType(ack) === DHCP.NAK) {
        o.logger.warning(`${o.iface}: ${offered.serverId} refused ${offered.address} (NAK)`);
        await sleep(1000, o.signal);
        continue;
      }
      await bind(ack, start, false);
      continue;
    }
    // BOUND: wait for T1, then RENEWING until T2, then REBINDING until expiry.
    const l = lease;
    const t1 = leaseStart + l.t1 * 1000;
    const t2 = leaseStart + l.t2 * 1000;
    const expiry = leaseStart + l.leaseSeconds * 1000;
    await sleep(t1 - now(), o.signal);
    if (o.signal.aborted) break;
    const xid = randomXid();
    const start = now();
    // RFC 2131 §4.4.5: retransmit after half the remaining time (we cap at 60 s, floor 1 s).
    const half = (until: number) => () => Math.min(60_000, Math.max(1000, (until - now()) / 2));
    let answer = await exchange(
      { type: DHCP.REQUEST, xid, mac: o.mac, ciaddr: l.address },
      l.serverId,
      [DHCP.ACK, DHCP.NAK],
      t2,
      half(t2),
    );
    if (!answer && !o.signal.aborted) {
      o.logger.warning(`${o.iface}: no answer from ${l.serverId} to renew, rebinding`);
      answer = await exchange(
        { type: DHCP.REQUEST, xid, mac: o.mac, ciaddr: l.address },
        BROADCAST,
        [DHCP.ACK, DHCP.NAK],
        expiry,
        half(expiry),
      );
    }
    if (o.signal.aborted) break;
    if (!answer) await lose("lease expired");
    else if (messageType(answer) === DHCP.NAK) await lose("server refused the renewal (NAK)");
    else await bind(answer, start, true);
  }
}
