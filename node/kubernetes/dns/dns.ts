/**
 * Cluster DNS of a worker (kubernetes.md §9, DN `…worker.dns`): UDP and TCP on
 * `169.254.77.53:53` (the address is put on `lo` while this runs), answers from Services and
 * EndpointSlices watched with the netservices identity ({@link ./table.ts}), everything else
 * relayed to the node's resolvers ({@link ./forward.ts}).
 * @module
 */
import dgram from "node:dgram";
import type { KubeClient } from "../client/client.ts";
import { NET } from "../paths.ts";
import { type Context, type Runnable, signal } from "../../base/supervisor/supervisor.ts";
import { Rtnl } from "../../base/net/rtnl.ts";
import { IFF } from "../../base/net/netlink.ts";
import { inform } from "./informer.ts";
import { forward, parseResolvConf } from "./forward.ts";
import { parseService, parseSlice } from "./objects.ts";
import { type Decision, respond, servfail } from "./respond.ts";
import { buildTable, type DnsTable, type ServiceInfo, type SliceInfo } from "./table.ts";
import { MAX_MESSAGE } from "./message.ts";

/** Options of {@link clusterDns}. */
export interface ClusterDnsOptions {
  client: KubeClient;
  /** The node's resolvers (default `/ephemeral/resolv.conf`). */
  resolvConf?: string;
  /** Listen address (default 169.254.77.53, then also added to `lo`). */
  listen?: string;
  port?: number;
}

/** Forwarded queries in flight at once; beyond that, clients get SERVFAIL at once. */
const MAX_FORWARDS = 256;
/** Concurrent TCP clients; more are closed at accept. */
const MAX_TCP = 64;
/** A TCP client idle this long is dropped (RFC 7766 suggests seconds, not minutes). */
const TCP_IDLE_MS = 10_000;

/** The cluster DNS runnable (upstream resolvers on port 53). */
export function clusterDns(o: ClusterDnsOptions): Runnable {
  return serveClusterDns({ ...o, upstreamPort: 53 });
}

/** {@link clusterDns} with the upstream port as a parameter (tests run fake upstreams). */
export function serveClusterDns(o: ClusterDnsOptions & { upstreamPort: number }): Runnable {
  return async (ctx: Context) => {
    const listen = o.listen ?? NET.clusterDns;
    const port = o.port ?? 53;
    const resolvConf = o.resolvConf ?? "/ephemeral/resolv.conf";
    const stop = new AbortController();
    const signalAll = AbortSignal.any([ctx.signal, stop.signal]);
    let table: DnsTable = buildTable([], []);
    let services: ReadonlyMap<string, ServiceInfo> = new Map();
    let slices: ReadonlyMap<string, SliceInfo> = new Map();
    const rebuild = () => table = buildTable(services.values(), slices.values());

    let forwards = 0;
    /** Resolves a packet to reply bytes (or undefined: send nothing). */
    const handle = async (
      b: Uint8Array,
      transport: "udp" | "tcp",
    ): Promise<Uint8Array | undefined> => {
      const d: Decision = respond(table, b, transport === "tcp" ? MAX_MESSAGE : undefined);
      if (d.kind === "drop") return undefined;
      if (d.kind === "reply") return d.bytes;
      if (forwards >= MAX_FORWARDS) return servfail(d.query);
      forwards++;
      try {
        const text = await Deno.readTextFile(resolvConf).catch(() => "");
        const r = await forward(b, parseResolvConf(text), {
          transport,
          port: o.upstreamPort,
          signal: signalAll,
        });
        return r ?? servfail(d.query);
      } finally {
        forwards--;
      }
    };

    const lo = listen === NET.clusterDns ? loopbackIndex() : undefined;
    if (lo !== undefined) withRtnl((r) => r.addressReplace(lo, listen, 32));
    let udp: dgram.Socket | undefined;
    let tcp: Deno.TcpListener | undefined;
    try {
      udp = await bindUdp(listen, port);
      tcp = Deno.listen({ hostname: listen, port, transport: "tcp" });
      const failed = new Promise<never>((_, reject) => udp!.once("error", reject));
      const sock = udp;
      sock.on("message", (msg, rinfo) => {
        const b = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
        handle(b, "udp").then((r) => {
          if (r && !signalAll.aborted) sock.send(r, rinfo.port, rinfo.address);
        }, (e) => ctx.logger.warning(`udp query from ${rinfo.address}: ${e}`));
      });
      const accepting = acceptTcp(tcp, (b) => handle(b, "tcp"), signalAll);

      let listed = 0;
      const synced = () => {
        if (++listed === 2) {
          ctx.logger.info(`serving ${table.records.size} names on ${listen}:${port}`);
          signal(ctx, "healthy");
        }
      };
      let svcFirst = true, sliceFirst = true;
      const informers = [
        inform({
          client: o.client,
          path: "/api/v1/services",
          parse: parseService,
          signal: signalAll,
          onChange: (m) => {
            services = m;
            rebuild();
            if (svcFirst) (svcFirst = false, synced());
          },
        }),
        inform({
          client: o.client,
          path: "/apis/discovery.k8s.io/v1/endpointslices",
          parse: parseSlice,
          signal: signalAll,
          onChange: (m) => {
            slices = m;
            rebuild();
            if (sliceFirst) (sliceFirst = false, synced());
          },
        }),
      ];
      const racers = [...informers, failed, accepting];
      // The losers reject too once everything is torn down; that is expected, not unhandled.
      for (const r of racers) r.catch(() => {});
      await Promise.race(racers);
    } catch (e) {
      if (ctx.signal.aborted) return;
      throw e;
    } finally {
      stop.abort();
      udp?.close();
      try {
        tcp?.close();
      } catch { /* already closed */ }
      if (lo !== undefined) withRtnl((r) => r.addressDelete(lo, listen, 32));
    }
  };
}

function withRtnl<T>(f: (r: Rtnl) => T): T {
  const r = new Rtnl();
  try {
    return f(r);
  } finally {
    r.close();
  }
}

function loopbackIndex(): number {
  const lo = withRtnl((r) => r.links()).find((l) => l.flags & IFF.LOOPBACK);
  if (!lo) throw new Error("no loopback link");
  return lo.index;
}

function bindUdp(address: string, port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket("udp4");
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.bind(port, address, () => {
      s.off("error", reject);
      resolve(s);
    });
  });
}

/** Accepts TCP clients until the listener closes; rejects only on a listener error. */
async function acceptTcp(
  l: Deno.TcpListener,
  handle: (b: Uint8Array) => Promise<Uint8Array | undefined>,
  signal: AbortSignal,
): Promise<never> {
  const open = new Set<Deno.Conn>();
  signal.addEventListener("abort", () => open.forEach((c) => c.close()), { once: true });
  try {
    for await (const c of l) {
      if (open.size >= MAX_TCP) {
        c.close();
        continue;
      }
      open.add(c);
      serveTcp(c, handle).catch(() => {}).finally(() => {
        open.delete(c);
        try {
          c.close();
        } catch { /* closed on abort */ }
      });
    }
  } catch (e) {
    if (!signal.aborted) throw e;
  }
  // The listener only ends when we close it.
  return await new Promise<never>(() => {});
}

/** Reads `n` bytes within the idle timeout; undefined on EOF or timeout. */
async function readFull(c: Deno.Conn, n: number): Promise<Uint8Array | undefined> {
  const b = new Uint8Array(n);
  let got = 0;
  const t = setTimeout(() => c.close(), TCP_IDLE_MS);
  try {
    while (got < n) {
      const r = await c.read(b.subarray(got));
      if (r === null) return undefined;
      got += r;
    }
    return b;
  } finally {
    clearTimeout(t);
  }
}

/** One TCP client: length-prefixed queries answered in order (RFC 7766). */
async function serveTcp(
  c: Deno.Conn,
  handle: (b: Uint8Array) => Promise<Uint8Array | undefined>,
): Promise<void> {
  for (;;) {
    const len = await readFull(c, 2);
    if (!len) return;
    const n = (len[0] << 8) | len[1];
    if (n < 12) return; // not even a header: this is no DNS client
    const q = await readFull(c, n);
    if (!q) return;
    const r = await handle(q);
    if (!r) return;
    const out = new Uint8Array(2 + r.length);
    out.set([r.length >> 8, r.length & 0xff]);
    out.set(r, 2);
    let off = 0;
    while (off < out.length) off += await c.write(out.subarray(off));
  }
}
