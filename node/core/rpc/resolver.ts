/**
 * Leader resolver shared by nodes and metroctl (node.md §10.5): finds the curator leader through
 * `CuratorLocal.GetCurrentLeader` on seed endpoints, follows leadership changes by keeping that
 * stream open, and learns further curator endpoints from `Curator.Watch(nodes_in_cluster)`.
 * Between failed rounds it backs off (0.5 s doubling to 10 s), but tries again as soon as a
 * curator port that was closed opens ({@link PORT_WATCH_MIN_WAIT_MS}).
 */
import { PORTS } from "../constants/ports.ts";
import * as grpc from "@grpc/grpc-js";
import { makeClient } from "../../../proto/grpc.ts";
import {
  Curator,
  CuratorLocal,
  type GetCurrentLeaderResponse,
  type WatchEvent,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { type ClientCertificate, type ConnectionParams, connectionParams } from "./client.ts";
import { delay } from "../../base/delay/delay.ts";
import { dialTcp } from "../../base/net/tcp.ts";
import { parseHostPort } from "../../base/socks/protocol.ts";

/** Port of the curator (Cluster API). */
export const CURATOR_PORT = PORTS.curator;

/**
 * A followed GetCurrentLeader stream that ends after this long is asked again at once rather than
 * after the backoff: the leadership changed (a follower that starts to lead ends the streams it
 * served, a leader that stops ends its own), and every node waiting 0.5 s more would add that to
 * each failover. One that ends sooner is treated as a failure, so a curator that keeps ending
 * streams at once cannot make the resolver spin.
 */
export const FOLLOWED_FOR_RETRY_AT_ONCE_MS = 1000;

/**
 * While the wait between failed rounds is at least this long, the seeds' curator ports are probed
 * (TCP connect) every {@link PORT_WATCH_EVERY_MS}, and a seed whose port was refused or silent
 * earlier in the wait and now accepts ends the wait at once. Without it, a node whose only
 * curator restarted (one consensus member rebooted, or a cold start of the cluster) reconnected
 * up to the backoff's 10 s after that curator was back: as long as a new leader reports UNKNOWN
 * for a node it has not heard from, so a healthy node could read HEARTBEAT_TIMEOUT. A just-started
 * curator holds GetCurrentLeader open until its election is decided (server.ts), so the woken
 * round learns the leader as soon as there is one. Ports that stay open (a curator that runs but
 * knows no leader) never wake the loop: it cannot spin. Not with a SOCKS5 proxy (the probe would
 * bypass it).
 */
export const PORT_WATCH_MIN_WAIT_MS = 2000;
/** Interval of the port probes (each with a {@link PORT_WATCH_TIMEOUT_MS} connect timeout). */
export const PORT_WATCH_EVERY_MS = 500;
/** Connect timeout of one port probe. */
export const PORT_WATCH_TIMEOUT_MS = 1000;

/** A resolved leader. */
export interface Leader {
  nodeId: string;
  /** `host:port` to dial (IPv6 in brackets). */
  address: string;
}

/** A curator endpoint whose node is known: dialled expecting that node. */
export interface CuratorEndpoint {
  nodeId: string;
  /** `host` or `host:port` (default port 7835). */
  seed: string;
}

/** Options of a {@link LeaderResolver}. */
export interface ResolverOptions {
  /**
   * Seed endpoints: `host` or `host:port` (default port 7835), or with the node expected there.
   * A seed of a known node is dialled as that node, like the leader, so that the stream followed
   * on it and the leader's clients share one connection when that node leads.
   */
  seeds: (string | CuratorEndpoint)[];
  /** DER of the cluster CA: every server must verify as a node of it. */
  ca: Uint8Array;
  /** Client certificate (node or owner); needed for the background `Curator.Watch`. */
  identity?: ClientCertificate;
  /** SOCKS5 proxy `host:port` for every dial. */
  socks5?: string;
  /** Learn curator endpoints via `Curator.Watch` (default: when `identity` is set). */
  watchNodes?: boolean;
  /** Progress lines (leader changes, failures), without a prefix: the caller names the source. */
  log?: (line: string) => void;
  /** Backoff between failed rounds (default 500 ms doubling to 10 s). */
  backoff?: { initialMs: number; maxMs: number };
}

/** Formats `host:port`, bracketing IPv6 literals. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Adds the curator port to a seed without one. */
export function normalizeSeed(seed: string): string {
  if (/^\[.*\]:\d+$/.test(seed) || /^[^:]+:\d+$/.test(seed)) return seed;
  if (seed.includes(":") && !seed.startsWith("[")) return `[${seed}]:${CURATOR_PORT}`;
  return `${seed}:${CURATOR_PORT}`;
}

/**
 * Interprets one GetCurrentLeader answer from `seed`: undefined when the leader is unknown; throws
 * for a malformed answer from a non-leader (no host, or port 0).
 */
export function leaderFromResponse(r: GetCurrentLeaderResponse, seed: string): Leader | undefined {
  if (!r.leaderNodeId) return undefined;
  // The seed that answered is the leader: dial it as reached (its advertised address may differ,
  // e.g. behind port forwarding or a proxy).
  if (r.leaderNodeId === r.thisNodeId) return { nodeId: r.leaderNodeId, address: seed };
  if (!r.leaderHost) throw new Error(`seed ${seed}: leader ${r.leaderNodeId} without address`);
  if (!r.leaderPort) throw new Error(`seed ${seed}: leader ${r.leaderNodeId} with port 0`);
  return { nodeId: r.leaderNodeId, address: joinHostPort(r.leaderHost, r.leaderPort) };
}

/** The curators among `nodes` (a node watch's event): those with an address and a running curator. */
export function curatorsOf(nodes: readonly WatchEvent["nodes"][number][]): CuratorEndpoint[] {
  return nodes.flatMap((n) => {
    const addr = n.status?.externalAddress;
    const port = n.status?.runningCurator?.port;
    return addr && port ? [{ nodeId: n.id, seed: joinHostPort(addr, port) }] : [];
  });
}

type LeaderStream = grpc.ClientReadableStream<GetCurrentLeaderResponse>;

/** See the module comment. Call {@link start}, then {@link leader}/{@link connection}. */
export class LeaderResolver {
  readonly #o: ResolverOptions;
  readonly #seeds = new Set<string>();
  /** Node IDs of seeds whose node is known (configured or learned). */
  readonly #ids = new Map<string, string>();
  #leader?: Leader;
  #waiters: { resolve: (l: Leader) => void; reject: (e: Error) => void }[] = [];
  #listeners: ((l: Leader | undefined) => void)[] = [];
  #closed = false;
  #wake?: () => void;
  readonly #cleanups = new Set<() => void>();
  #loop?: Promise<void>;
  #watchStop?: () => void;

  /** Declares the resolver; nothing is dialled until {@link start}. */
  constructor(opts: ResolverOptions) {
    if (!opts.seeds.length) throw new Error("resolver: no seed endpoints");
    this.#o = opts;
    for (const s of opts.seeds) {
      const seed = normalizeSeed(typeof s === "string" ? s : s.seed);
      this.#seeds.add(seed);
      if (typeof s !== "string") this.#ids.set(seed, s.nodeId);
    }
  }

  /** Current seed endpoints (configured plus learned). */
  seeds(): string[] {
    return [...this.#seeds];
  }

  /**
   * Adds curator endpoints (`host:port`, by node ID for the log) learned from a node watch: the
   * resolver's own, or, with `watchNodes: false`, its owner's (a node's agent watches all nodes
   * anyway and feeds them here rather than making the leader serve every node's nodes twice).
   */
  learn(curators: Iterable<CuratorEndpoint>): void {
    for (const { nodeId, seed } of curators) {
      const s = normalizeSeed(seed);
      this.#ids.set(s, nodeId);
      if (this.#seeds.has(s)) continue;
      this.#seeds.add(s);
      this.#o.log?.(`learned curator ${nodeId} at ${s}`);
    }
  }

  /** The leader if currently known. */
  current(): Leader | undefined {
    return this.#leader;
  }

  /** Calls `fn` on every leader change (undefined: leader lost). Returns an unsubscribe. */
  onChange(fn: (l: Leader | undefined) => void): () => void {
    this.#listeners.push(fn);
    return () => this.#listeners = this.#listeners.filter((f) => f !== fn);
  }

  /** Starts resolving in the background. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Resolves with the leader once known; rejects on abort or close. */
  leader(signal?: AbortSignal): Promise<Leader> {
    if (this.#leader) return Promise.resolve(this.#leader);
    if (this.#closed) return Promise.reject(new Error("resolver: closed"));
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      this.#waiters.push(w);
      signal?.addEventListener("abort", () => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(new Error("resolver: aborted while waiting for the leader"));
      }, { once: true });
    });
  }

  /** Connection parameters for the current leader, verifying its node ID. */
  async connection(signal?: AbortSignal): Promise<ConnectionParams & { leader: Leader }> {
    const l = await this.leader(signal);
    const p = await connectionParams(l.address, this.#dialOpts(l.nodeId));
    return { ...p, leader: l };
  }

  /**
   * Ends the wait between failed rounds at once: a seed is known to serve now (this node's own
   * curator started). Without a pending wait (resolving, or following a leader) it does nothing.
   */
  retryNow(): void {
    this.#wake?.();
  }

  /** Stops all streams and the loop. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watchStop?.();
    for (const c of [...this.#cleanups]) c();
    this.#wake?.();
    for (const w of this.#waiters) w.reject(new Error("resolver: closed"));
    this.#waiters = [];
    await this.#loop;
  }

  #dialOpts(nodeId?: string) {
    return { ca: this.#o.ca, nodeId, identity: this.#o.identity, socks5: this.#o.socks5 };
  }

  #setLeader(l: Leader | undefined) {
    const prev = this.#leader;
    if (prev?.nodeId === l?.nodeId && prev?.address === l?.address) return;
    this.#leader = l;
    this.#o.log?.(l ? `leader is ${l.nodeId} at ${l.address}` : "leader lost");
    if (l) {
      const ws = this.#waiters;
      this.#waiters = [];
      for (const w of ws) w.resolve(l);
    }
    for (const f of this.#listeners) f(l);
    this.#restartWatch();
  }

  /** Waits `ms` between failed rounds, or less: {@link retryNow}, close, a curator port opening. */
  async #sleep(ms: number) {
    const done = new AbortController();
    await new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      const wake = () => {
        clearTimeout(t);
        r();
      };
      this.#wake = wake;
      if (ms >= PORT_WATCH_MIN_WAIT_MS && !this.#o.socks5) {
        void this.#portOpened(done.signal).then((opened) => opened && wake());
      }
    });
    done.abort();
    this.#wake = undefined;
  }

  /**
   * Resolves true once a seed's curator port that was refused (or silent) during this wait
   * accepts a connection, false when `signal` aborts first. See {@link PORT_WATCH_MIN_WAIT_MS}.
   */
  async #portOpened(signal: AbortSignal): Promise<boolean> {
    const closed = new Set<string>();
    while (!signal.aborted) {
      const seeds = this.seeds();
      const open = await Promise.all(seeds.map((seed) => {
        let to;
        try {
          to = parseHostPort(seed);
        } catch {
          return false; // a seed with no usable port (e.g. > 65535) never opens
        }
        return dialTcp(to.host, to.port, PORT_WATCH_TIMEOUT_MS);
      }));
      if (signal.aborted) return false;
      for (const [i, seed] of seeds.entries()) {
        if (!open[i]) closed.add(seed);
        else if (closed.has(seed)) {
          this.#o.log?.(`curator port ${seed} opened: resolving now`);
          return true;
        }
      }
      await delay(PORT_WATCH_EVERY_MS, signal);
    }
    return false;
  }

  async #run(): Promise<void> {
    const { initialMs, maxMs } = this.#o.backoff ?? { initialMs: 500, maxMs: 10_000 };
    let delay = initialMs;
    while (!this.#closed) {
      let followedMs = 0;
      try {
        const won = await this.#firstLeader();
        delay = initialMs;
        // Follow the winning stream until it ends; every answer updates the leader.
        const since = performance.now();
        await won.follow;
        followedMs = performance.now() - since;
      } catch (e) {
        if (this.#closed) break;
        this.#o.log?.(`${(e as Error).message}; retrying in ${delay} ms`);
      }
      this.#setLeader(undefined);
      if (this.#closed) break;
      if (followedMs >= FOLLOWED_FOR_RETRY_AT_ONCE_MS) continue;
      await this.#sleep(delay);
      delay = Math.min(delay * 2, maxMs);
    }
  }

  /** Opens GetCurrentLeader on every seed; the first with a known leader wins, others close. */
  async #firstLeader(): Promise<{ follow: Promise<void> }> {
    const seeds = this.seeds();
    const attempts = await Promise.all(seeds.map(async (seed) => {
      const p = await connectionParams(seed, this.#dialOpts(this.#ids.get(seed)));
      const client = makeClient(CuratorLocal, p.address, p.credentials, p.options);
      const stream = client.getCurrentLeader({}) as unknown as LeaderStream;
      // Other seeds are still being dialled: remember an early end so it is neither an unhandled
      // 'error' event (which would crash the process) nor lost.
      const early: { why?: string } = {};
      stream.on("error", (e: grpc.ServiceError) => early.why ??= e.details || e.message);
      stream.on("end", () => early.why ??= "stream ended without a leader");
      const cleanup = () => {
        stream.cancel();
        client.close();
        void p.close();
      };
      this.#cleanups.add(cleanup);
      return { seed, stream, cleanup, early };
    }));
    return await new Promise((resolve, reject) => {
      let pending = attempts.length;
      let won = false;
      const errors: string[] = [];
      const lose = (seed: string, why: string) => {
        errors.push(`${seed}: ${why}`);
        if (--pending === 0 && !won) {
          reject(new Error(`no leader from seeds (${errors.join("; ")})`));
        }
      };
      for (const a of attempts) {
        let done = false;
        const finish = (why: string) => {
          if (done) return;
          done = true;
          a.cleanup();
          this.#cleanups.delete(a.cleanup);
          lose(a.seed, why);
        };
        let resolveFollow!: () => void;
        const follow = new Promise<void>((r) => resolveFollow = r);
        a.stream.on("data", (r: GetCurrentLeaderResponse) => {
          let l: Leader | undefined;
          let why = "leader unknown";
          try {
            l = leaderFromResponse(r, a.seed);
          } catch (e) {
            why = (e as Error).message;
          }
          if (!won) {
            if (!l) return finish(why);
            won = true;
            for (const o of attempts) {
              if (o !== a) {
                o.cleanup();
                this.#cleanups.delete(o.cleanup);
              }
            }
            const end = () => {
              a.cleanup();
              this.#cleanups.delete(a.cleanup);
              resolveFollow();
            };
            a.stream.on("end", end);
            a.stream.on("close", end);
            a.stream.on("error", end);
            this.#setLeader(l);
            resolve({ follow });
            return;
          }
          // The followed seed no longer knows the leader: resolve again.
          if (!l) {
            this.#o.log?.(`${a.seed}: ${why}`);
            a.cleanup();
            return;
          }
          this.#setLeader(l);
        });
        a.stream.on("error", (e: grpc.ServiceError) => {
          if (!won) finish(e.details || e.message);
        });
        a.stream.on("end", () => {
          if (!won) finish("stream ended without a leader");
        });
        if (a.early.why) finish(a.early.why);
      }
    });
  }

  #restartWatch() {
    this.#watchStop?.();
    this.#watchStop = undefined;
    const l = this.#leader;
    if (!l || this.#closed || !(this.#o.watchNodes ?? !!this.#o.identity)) return;
    let stopped = false;
    let cleanup = () => {
      stopped = true;
    };
    this.#watchStop = () => cleanup();
    (async () => {
      const p = await connectionParams(l.address, this.#dialOpts(l.nodeId));
      if (stopped) return void p.close();
      const client = makeClient(Curator, p.address, p.credentials, p.options);
      const stream = client.watch({
        kind: { case: "nodesInCluster", value: {} },
      }) as unknown as grpc.ClientReadableStream<WatchEvent>;
      cleanup = () => {
        stream.cancel();
        client.close();
        void p.close();
      };
      stream.on("data", (ev: WatchEvent) => this.learn(curatorsOf(ev.nodes)));
      stream.on("error", (e: grpc.ServiceError) => {
        if (e.code !== grpc.status.CANCELLED) {
          this.#o.log?.(`node watch on ${l.nodeId} failed: ${e.details || e.message}`);
        }
      });
    })().catch((e) => this.#o.log?.(`node watch: ${(e as Error).message}`));
  }
}
