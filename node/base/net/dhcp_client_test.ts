import assert from "node:assert/strict";
import { runDhcpClient } from "./dhcp_client.ts";
import { DHCP, type Lease, messageType, parsePacket } from "./dhcp_message.ts";

const MAC = "52:54:00:01:00:09";

/** An in-memory server: answers per `policy`, records what the client sent and where. */
class FakeNet {
  sent: string[] = [];
  #queue: Uint8Array[] = [];
  #wake?: () => void;
  constructor(readonly policy: (type: number, ciaddr: string, n: number) => number | undefined) {}

  send(data: Uint8Array<ArrayBuffer>, addr: string, _port: number) {
    const p = parsePacket(data);
    const t = messageType(p);
    this.sent.push(`${t}@${addr}${p.ciaddr !== "0.0.0.0" ? ` ci=${p.ciaddr}` : ""}`);
    const answer = this.policy(t, p.ciaddr, this.sent.length);
    if (!answer) return;
    const b = new Uint8Array(300);
    b.set([2, 1, 6], 0);
    new DataView(b.buffer).setUint32(4, p.xid);
    if (answer !== DHCP.NAK) b.set([10, 9, 0, 7], 16);
    b.set(data.subarray(28, 34), 28);
    b.set([0x63, 0x82, 0x53, 0x63], 236);
    // Lease 4 s → T1 2 s, T2 3 s; one router; one DNS server.
    b.set([53, 1, answer, 54, 4, 10, 9, 0, 1, 51, 4, 0, 0, 0, 4, 1, 4, 255, 255, 0, 0], 240);
    b.set([3, 4, 10, 9, 0, 1, 6, 4, 10, 9, 0, 53, 255], 261);
    // Another client's answer first: must be ignored (other xid).
    const other = b.slice();
    new DataView(other.buffer).setUint32(4, p.xid ^ 1);
    this.#queue.push(other, b);
    this.#wake?.();
  }

  async receive(timeoutMs: number, signal?: AbortSignal) {
    if (!this.#queue.length) {
      await new Promise<void>((r) => {
        const t = setTimeout(done, timeoutMs);
        function done() {
          clearTimeout(t);
          signal?.removeEventListener("abort", done);
          r();
        }
        this.#wake = done;
        signal?.addEventListener("abort", done);
      });
      this.#wake = undefined;
    }
    const data = this.#queue.shift();
    return data && { data };
  }
}

async function runUntil(net: FakeNet, stop: (events: string[]) => boolean, ms = 10_000) {
  const events: string[] = [];
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const check = () => {
    if (stop(events)) ac.abort();
  };
  await runDhcpClient({
    iface: "eth9",
    mac: MAC,
    transport: net,
    logger: { info: (m) => events.push(`info ${m}`), warning: (m) => events.push(`warn ${m}`) },
    signal: ac.signal,
    hooks: {
      bound: (l: Lease, prev?: Lease) => {
        events.push(`bound ${l.address}/${l.prefixLen} ${prev ? "renewed" : "new"}`);
        check();
      },
      lost: (l: Lease, why: string) => {
        events.push(`lost ${l.address} ${why}`);
        check();
      },
    },
  });
  clearTimeout(timer);
  return events;
}

Deno.test("dhcp client: DISCOVER/OFFER/REQUEST/ACK, then renews by unicast to the server", async () => {
  const net = new FakeNet((t) => t === DHCP.DISCOVER ? DHCP.OFFER : DHCP.ACK);
  const events = await runUntil(net, (e) => e.filter((x) => x.startsWith("bound")).length === 2);
  assert.deepEqual(events.filter((e) => e.startsWith("bound")), [
    "bound 10.9.0.7/16 new",
    "bound 10.9.0.7/16 renewed",
  ]);
  assert.ok(
    events.includes(
      "info eth9: leased 10.9.0.7/16 from 10.9.0.1, router 10.9.0.1, dns 10.9.0.53, lease 4s",
    ),
    events.join("\n"),
  );
  assert.equal(events.filter((e) => e.startsWith("info")).length, 1, "a plain renewal is quiet");
  assert.deepEqual(net.sent, [
    `${DHCP.DISCOVER}@255.255.255.255`,
    `${DHCP.REQUEST}@255.255.255.255`,
    `${DHCP.REQUEST}@10.9.0.1 ci=10.9.0.7`,
  ]);
});

Deno.test("dhcp client: a NAK on renewal drops the lease and starts over", async () => {
  const net = new FakeNet((t, ci) =>
    t === DHCP.DISCOVER ? DHCP.OFFER : ci !== "0.0.0.0" ? DHCP.NAK : DHCP.ACK
  );
  const events = await runUntil(net, (e) => e.filter((x) => x.startsWith("bound")).length === 2);
  assert.deepEqual(events.filter((e) => /^(bound|lost)/.test(e)), [
    "bound 10.9.0.7/16 new",
    "lost 10.9.0.7 server refused the renewal (NAK)",
    "bound 10.9.0.7/16 new",
  ]);
  assert.equal(net.sent[3], `${DHCP.DISCOVER}@255.255.255.255`);
});

Deno.test("dhcp client: unanswered renewal → rebinding by broadcast → expiry drops the lease", async () => {
  // Only the first exchange is answered; later requests go unanswered until the lease expires.
  const net = new FakeNet((t, _ci, n) =>
    n <= 2 ? (t === DHCP.DISCOVER ? DHCP.OFFER : DHCP.ACK) : undefined
  );
  const events = await runUntil(net, (e) => e.some((x) => x.startsWith("lost")));
  assert.ok(events.includes("lost 10.9.0.7 lease expired"), events.join("\n"));
  assert.ok(events.some((e) => /no answer from 10.9.0.1 to renew, rebinding/.test(e)));
  assert.ok(net.sent.includes(`${DHCP.REQUEST}@10.9.0.1 ci=10.9.0.7`), net.sent.join());
  assert.ok(net.sent.includes(`${DHCP.REQUEST}@255.255.255.255 ci=10.9.0.7`), net.sent.join());
});
