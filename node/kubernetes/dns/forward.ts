/**
 * Forwarding of non-cluster queries to the node's resolvers (`/ephemeral/resolv.conf`). Each
 * upstream query gets a fresh socket (random source port) and a random ID, and only a reply
 * from the asked server with that ID and the same question is relayed: an off-path attacker has
 * to guess both to poison a pod's answer.
 * @module
 */
import dgram from "node:dgram";
import { NET } from "../paths.ts";
import { questionEnd } from "./message.ts";
import { isIPv4 } from "./table.ts";

/** How long one upstream gets before the next is tried. */
export const UPSTREAM_TIMEOUT_MS = 2000;

/**
 * The IPv4 `nameserver`s of a resolv.conf text, in order, without the cluster DNS address
 * (forwarding to ourselves would loop).
 */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)\s*(?:[#;].*)?$/.exec(line);
    if (m && isIPv4(m[1]) && m[1] !== NET.clusterDns && !out.includes(m[1])) out.push(m[1]);
  }
  return out;
}

/** `query` with `id` instead of its own. */
function withId(query: Uint8Array, id: number): Uint8Array {
  const b = query.slice();
  b[0] = id >> 8;
  b[1] = id & 0xff;
  return b;
}

function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0];
}

/** Whether `reply` answers `sent`: same ID, QR set, byte-identical question section. */
export function matchesQuery(sent: Uint8Array, reply: Uint8Array): boolean {
  if (reply.length < 12 || reply[0] !== sent[0] || reply[1] !== sent[1]) return false;
  if (!(reply[2] & 0x80)) return false;
  try {
    const end = questionEnd(sent);
    if (reply.length < end) return false;
    for (let i = 4; i < 6; i++) if (reply[i] !== sent[i]) return false; // QDCOUNT
    for (let i = 12; i < end; i++) if (reply[i] !== sent[i]) return false;
    return true;
  } catch {
    return false;
  }
}

/** Asks one server over UDP; the reply (with the client's ID) or undefined on timeout. */
async function askUdp(
  query: Uint8Array,
  server: string,
  port: number,
  signal: AbortSignal,
): Promise<Uint8Array | undefined> {
  const sent = withId(query, randomId());
  const sock = dgram.createSocket("udp4");
  try {
    return await new Promise<Uint8Array | undefined>((resolve) => {
      const done = (v: Uint8Array | undefined) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", abort);
        resolve(v);
      };
      const abort = () => done(undefined);
      const timer = setTimeout(abort, UPSTREAM_TIMEOUT_MS);
      signal.addEventListener("abort", abort, { once: true });
      sock.on("error", abort);
      sock.on("message", (msg, rinfo) => {
        const b = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
        if (rinfo.address !== server || rinfo.port !== port || !matchesQuery(sent, b)) return;
        done(withId(b, (query[0] << 8) | query[1]));
      });
      sock.send(sent, port, server, (err) => err && abort());
    });
  } finally {
    sock.close();
  }
}

async function readFull(conn: Deno.Conn, n: number): Promise<Uint8Array | undefined> {
  const b = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(b.subarray(got));
    if (r === null) return undefined;
    got += r;
  }
  return b;
}

/** Asks one server over TCP (RFC 7766 framing). */
async function askTcp(
  query: Uint8Array,
  server: string,
  port: number,
  signal: AbortSignal,
): Promise<Uint8Array | undefined> {
  const sent = withId(query, randomId());
  let conn: Deno.TcpConn | undefined;
  const timeout = AbortSignal.any([signal, AbortSignal.timeout(UPSTREAM_TIMEOUT_MS)]);
  const kill = () => conn?.close();
  timeout.addEventListener("abort", kill, { once: true });
  try {
    conn = await Deno.connect({ hostname: server, port, signal: timeout });
    const framed = new Uint8Array(2 + sent.length);
    framed.set([sent.length >> 8, sent.length & 0xff]);
    framed.set(sent, 2);
    await conn.write(framed);
    const len = await readFull(conn, 2);
    if (!len) return undefined;
    const reply = await readFull(conn, (len[0] << 8) | len[1]);
    if (!reply || !matchesQuery(sent, reply)) return undefined;
    return withId(reply, (query[0] << 8) | query[1]);
  } catch {
    return undefined; // refused, reset or timed out: the next server is tried
  } finally {
    timeout.removeEventListener("abort", kill);
    try {
      conn?.close();
    } catch { /* already closed by the timeout */ }
  }
}

/**
 * Relays `query` to `servers` in order until one answers; undefined when none did. Over UDP the
 * upstream's reply is relayed as is, including its TC bit (the client then retries over TCP,
 * which is forwarded over TCP).
 */
export async function forward(
  query: Uint8Array,
  servers: string[],
  o: { transport: "udp" | "tcp"; port: number; signal: AbortSignal },
): Promise<Uint8Array | undefined> {
  for (const s of servers) {
    if (o.signal.aborted) return undefined;
    const r = o.transport === "udp"
      ? await askUdp(query, s, o.port, o.signal)
      : await askTcp(query, s, o.port, o.signal);
    if (r) return r;
  }
  return undefined;
}
