/**
 * The apiproxy (kubernetes.md §7): worker components (kubelet, kube-proxy, the agent's own
 * clients) talk to `127.0.0.1:6445`, which forwards each new TCP connection to one apiserver of
 * the cluster, round-robin. No TLS termination: the apiserver authenticates the worker's own
 * certificates end to end, so the proxy needs no keys and cannot widen anyone's identity.
 *
 * Targets come from a {@link Value} (controllers with addresses, from `Curator.Watch`) and may
 * change at any time; a target that refuses or does not answer is skipped for that connection and
 * the next one is tried. While there is no target, a new connection waits a few seconds for one
 * and is then closed — clients (client-go) retry on their own.
 */
import type { Value } from "../../base/event/value.ts";
import { parseHostPort } from "../../base/socks/protocol.ts";
import { type Context, type Runnable, signal } from "../../base/supervisor/supervisor.ts";
import { PORTS } from "../paths.ts";

/** Options of {@link apiproxy}. */
export interface ApiProxyOptions {
  /** Apiserver endpoints as `host:port` / `[v6]:port`; invalid entries are ignored. */
  targets: Value<string[]>;
  /** Listen address, default `127.0.0.1:6445`; port 0 = ephemeral (see `onListening`). */
  listen?: string;
  /** How long a connection waits for a first target (default 5 s). */
  waitMs?: number;
  /** Bound of one connection attempt to a target (default 3 s). */
  connectTimeoutMs?: number;
  /** Called with the bound port once listening. */
  onListening?: (port: number) => void;
}

interface Target {
  host: string;
  port: number;
}

/** The valid targets of `list`, in order, without duplicates. */
export function parseTargets(list: readonly string[]): Target[] {
  const out: Target[] = [];
  const seen = new Set<string>();
  for (const s of list) {
    try {
      const t = parseHostPort(s);
      if (t.port < 1 || seen.has(`${t.host}:${t.port}`)) continue;
      seen.add(`${t.host}:${t.port}`);
      out.push(t);
    } catch {
      // Not host:port: skipped (the list is built by the roleserver, this is defence only).
    }
  }
  return out;
}

/** Connects to `t`, giving up after `timeoutMs` or when `stop` aborts. */
async function dial(t: Target, timeoutMs: number, stop: AbortSignal): Promise<Deno.TcpConn> {
  // Deno.connect's signal also closes an established connection, so it aborts only while
  // connecting.
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error("connect timed out")), timeoutMs);
  const onStop = () => ac.abort(new Error("stopping"));
  stop.addEventListener("abort", onStop, { once: true });
  try {
    return await Deno.connect({ hostname: t.host, port: t.port, signal: ac.signal });
  } finally {
    clearTimeout(timer);
    stop.removeEventListener("abort", onStop);
  }
}

/** Copies `from` to `to` until end of stream, then half-closes `to`. */
async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await from.read(buf);
    if (n === null) break;
    for (let off = 0; off < n;) off += await to.write(buf.subarray(off, n));
  }
  await to.closeWrite();
}

function closeQuietly(c: Deno.Conn) {
  try {
    c.close();
  } catch {
    // Already closed.
  }
}

/** The apiproxy runnable: healthy once listening; throws when the address cannot be bound. */
export function apiproxy(o: ApiProxyOptions): Runnable {
  return async (ctx: Context) => {
    const listen = parseHostPort(o.listen ?? `127.0.0.1:${PORTS.apiproxy}`);
    const waitMs = o.waitMs ?? 5000;
    const connectTimeoutMs = o.connectTimeoutMs ?? 3000;
    const listener = Deno.listen({ hostname: listen.host, port: listen.port });
    const conns = new Set<Deno.Conn>();
    let rr = 0;

    const pick = async (): Promise<Target[]> => {
      const now = parseTargets(o.targets.get() ?? []);
      if (now.length > 0) return now;
      try {
        const v = await o.targets.waitFor(
          (t) => parseTargets(t).length > 0,
          AbortSignal.any([ctx.signal, AbortSignal.timeout(waitMs)]),
        );
        return parseTargets(v);
      } catch {
        return [];
      }
    };

    const serve = async (client: Deno.Conn) => {
      const targets = await pick();
      if (targets.length === 0) {
        ctx.logger.warning("no apiserver known: connection closed");
        return;
      }
      // Round-robin over connections; within one connection, the following targets in turn.
      const start = rr++ % targets.length;
      const failures: string[] = [];
      let upstream: Deno.TcpConn | undefined;
      for (let i = 0; i < targets.length && !upstream && !ctx.signal.aborted; i++) {
        const t = targets[(start + i) % targets.length];
        try {
          upstream = await dial(t, connectTimeoutMs, ctx.signal);
        } catch (e) {
          failures.push(`${t.host}:${t.port}: ${(e as Error).message.slice(0, 100)}`);
        }
      }
      if (!upstream) {
        ctx.logger.warning(`no apiserver reachable: ${failures.join("; ")}`);
        return;
      }
      conns.add(upstream);
      try {
        await Promise.all([pump(client, upstream), pump(upstream, client)]);
      } finally {
        conns.delete(upstream);
        closeQuietly(upstream);
      }
    };

    try {
      const addr = listener.addr as Deno.NetAddr;
      ctx.logger.info(`listening on ${addr.hostname}:${addr.port}`);
      o.onListening?.(addr.port);
      signal(ctx, "healthy");
      ctx.signal.addEventListener("abort", () => listener.close(), { once: true });
      for (;;) {
        let client: Deno.Conn;
        try {
          client = await listener.accept();
        } catch (e) {
          if (ctx.signal.aborted) return;
          throw e;
        }
        conns.add(client);
        serve(client).catch(() => {/* a reset connection concerns only its client */})
          .finally(() => {
            conns.delete(client);
            closeQuietly(client);
          });
      }
    } finally {
      try {
        listener.close();
      } catch {
        // Already closed by the abort.
      }
      for (const c of conns) closeQuietly(c);
    }
  };
}
