/**
 * One client process of `deno task bench heartbeats`: simulates `--count` nodes (the open-file
 * limit of a process, 20,000 on the bench machines, bounds how many one process can hold), each
 * with its own key, node certificate (issued here from the bench cluster's CA), TLS connection
 * and Heartbeat stream, dialled with the project's client code like a node's agent.
 *
 * Talks to the bench over stdin/stdout, one JSON line each way:
 * - reads the leader's {@link ServerInfo} first, then commands: `{"cmd":"connect"}` opens every
 *   node's connection, at most `--concurrency` handshakes at a time, each node heartbeating every
 *   `--interval` ms from its first answered heartbeat on (spread over the interval);
 *   `{"cmd":"report"}` answers the round-trip times since the last report; `{"cmd":"retarget",
 *   "info":…}` moves every node to another leader (failover); `{"cmd":"stop"}` ends.
 * - writes `{"ev":"seeded","ids":[…]}` once its records are in etcd, `{"ev":"connected","ms"}`
 *   once every node has had its first heartbeat answered, `{"ev":"report",…}` per report,
 *   `{"ev":"moved","ms"}` when all nodes heartbeat to a new leader after a retarget.
 *
 * Usage: `deno run -A e2e/bench/heartbeat_worker.ts --first I --count N --interval MS
 * --concurrency C`.
 */
import { Buffer } from "node:buffer";
import type * as grpc from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import { Curator } from "../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { makeClient } from "../../proto/grpc.ts";
import { channelCredentials, type DialOptions } from "../../node/core/rpc/client.ts";
import { KV } from "../../node/core/consensus/kv.ts";
import { generateEd25519, importPkcs8, rawPublicKey } from "../../node/base/pki/keys.ts";
import { issueCertificate } from "../../node/base/pki/cert.ts";
import { nodeTemplate } from "../../node/core/identity/profiles.ts";
import { nodeId } from "../../node/core/identity/nodeid.ts";
import type { ServerInfo } from "./curator_server.ts";
import { benchRecord, seedRecords } from "./seed.ts";

/** One simulated node. */
interface SimNode {
  id: string;
  keys: CryptoKeyPair;
  certificate: Uint8Array;
  client?: { close(): void };
  stream?: grpc.ClientDuplexStream<unknown, unknown>;
  /** Send time of the unanswered heartbeat. */
  sentAt?: number;
  timer?: ReturnType<typeof setTimeout>;
  /** Target generation the node last heartbeated to. */
  generation: number;
  /** Channel credentials and options for the leader `nodeId` (see {@link credentialsFor}). */
  dial?: { nodeId: string; credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions };
}

function intArg(name: string, def?: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(Deno.args[i + 1]) : def;
  if (v === undefined || !Number.isInteger(v) || v < 0) {
    throw new Error(`--${name} must be a non-negative integer`);
  }
  return v;
}

/** A node gives up dialling after this long (it would then never move: the bench reports it). */
const GIVE_UP_MS = 120_000;
/** An attempt whose first heartbeat is unanswered after this long is abandoned and redialled. */
const ATTEMPT_TIMEOUT_MS = 15_000;

const fromB64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
const send = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

if (import.meta.main) {
  const first = intArg("first");
  const count = intArg("count");
  const interval = intArg("interval", 5000);
  const concurrency = Math.max(1, intArg("concurrency", 200));
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  const reader = lines.getReader();
  let buf = "";
  const nextLine = async (): Promise<Record<string, unknown> | undefined> => {
    for (;;) {
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        const l = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        return JSON.parse(l);
      }
      const { value, done } = await reader.read();
      if (done) return undefined;
      buf += value;
    }
  };

  let info = (await nextLine()) as unknown as ServerInfo;
  const ca = fromB64(info.ca);
  const signer = {
    certificate: ca,
    privateKey: (await importPkcs8(fromB64(info.caKey))).privateKey,
  };
  // Keys and certificates 64 at a time: each is a few WebCrypto round trips, mostly waiting.
  const nodes: SimNode[] = [];
  for (let i = 0; i < count; i += 64) {
    nodes.push(
      ...await Promise.all(
        Array.from({ length: Math.min(64, count - i) }, async (): Promise<SimNode> => {
          const keys = await generateEd25519();
          const id = nodeId(await rawPublicKey(keys.publicKey));
          const certificate = await issueCertificate(nodeTemplate(id), keys.publicKey, signer);
          return { id, keys, certificate, generation: -1 };
        }),
      ),
    );
  }
  /**
   * `s`'s channel credentials for the current leader, built once per node and leader: what
   * they hold (the key exported to PEM, the client's TLS context) does not change between
   * attempts, and building them in every attempt was ≈ 10 % of the simulator's CPU per
   * connection, on the cores the leader needs during the ramp-up. Each attempt still opens its
   * own channel, TLS connection and handshake with them.
   */
  const credentialsFor = async (s: SimNode): Promise<NonNullable<SimNode["dial"]>> => {
    if (s.dial?.nodeId === info.nodeId) return s.dial;
    const opts: DialOptions = {
      ca,
      nodeId: info.nodeId,
      identity: { certificate: s.certificate, privateKey: s.keys.privateKey },
      // A node has one channel to the leader; thousands in one process would otherwise all
      // share grpc-js's global subchannel pool, whose lookup compares against every entry.
      channelOptions: { "grpc.use_local_subchannel_pool": 1 },
    };
    s.dial = { nodeId: info.nodeId, ...await channelCredentials(opts) };
    return s.dial;
  };
  for (const s of nodes) await credentialsFor(s);
  const etcd = new Etcd3({ hosts: info.etcd });
  const records = await Promise.all(
    nodes.map(async (s, i) => benchRecord(first + i, await rawPublicKey(s.keys.publicKey), false)),
  );
  await seedRecords(new KV(etcd, "curator/"), records);
  etcd.close();
  send({ ev: "seeded", ids: nodes.map((n) => n.id) });

  let rtts: number[] = [];
  let errors = 0;
  let reconnects = 0;
  let lastError = "";
  let generation = 0;
  let movedAt: number | undefined;
  let moved = 0;
  let inOpen = 0;
  let gaveUp = 0;

  const beat = (s: SimNode) => {
    if (!s.stream || s.sentAt !== undefined) return; // previous one unanswered: skip
    s.sentAt = performance.now();
    s.stream.write({});
  };

  // Every attempt (openAttempt) goes through here: at most `concurrency` in flight, from the
  // pool of openAll and from nodes redialling after their stream broke alike. The limit stands
  // for what one client process can handshake at once; thousands of unbounded redials (all of a
  // process's nodes after a stall) starve it into handshake and keepalive timeouts, which cause
  // more redials.
  const queued: (() => void)[] = [];
  const open = async (s: SimNode, gen: number): Promise<void> => {
    // A finishing attempt hands its slot straight to the next waiter.
    if (inOpen >= concurrency) await new Promise<void>((r) => queued.push(r));
    else inOpen++;
    try {
      await openAttempt(s, gen);
    } finally {
      const next = queued.shift();
      if (next) next();
      else inOpen--;
    }
  };

  /**
   * Opens `s`'s connection and stream to the leader of target generation `gen`; resolves at its
   * first answered heartbeat, rejects (and closes its own client) if the stream fails first.
   */
  const openAttempt = async (s: SimNode, gen: number): Promise<void> => {
    // Waited for a slot across a retarget: an attempt at the old leader is not worth one.
    if (gen !== generation) throw new Error("retargeted");
    const target = info.target;
    const { credentials, options } = await credentialsFor(s);
    // A retarget while this attempt awaited: it dials the old leader and must not replace the
    // node's client and stream, which may already belong to an attempt at the new one.
    if (gen !== generation) throw new Error("retargeted");
    const client = makeClient(Curator, target, credentials, options as grpc.ClientOptions);
    s.client = client;
    const stream = client.heartbeat() as grpc.ClientDuplexStream<unknown, unknown>;
    s.stream = stream;
    s.sentAt = undefined;
    const firstAnswer = Promise.withResolvers<void>();
    stream.on("data", () => {
      if (s.stream !== stream) return;
      if (s.sentAt !== undefined) rtts.push(performance.now() - s.sentAt);
      s.sentAt = undefined;
      if (s.generation !== gen) {
        s.generation = gen;
        if (gen > 0 && ++moved === nodes.length && movedAt !== undefined) {
          send({ ev: "moved", ms: Math.round(performance.now() - movedAt) });
        }
      }
      firstAnswer.resolve();
    });
    let answered = false;
    // Every failure settles this attempt, also when the node has moved on to another stream:
    // an attempt left pending would hold its slot of the connection pool for good.
    stream.on("end", () => firstAnswer.reject(new Error("stream ended without an answer")));
    stream.on("error", (e: Error) => {
      firstAnswer.reject(e);
      if (s.stream !== stream) return; // an old stream after a retarget
      errors++;
      lastError = e.message.split("\n")[0].slice(0, 200);
      s.stream = undefined;
      // A node whose stream broke after it was up redials, as an agent does.
      if (answered) {
        reconnects++;
        clearTimeout(s.timer);
        clearInterval(s.timer);
        client.close();
        void openWithRetry(s, gen);
      }
    });
    beat(s);
    // An attempt whose connection hangs (e.g. a TLS handshake the server dropped without the
    // client noticing) is given up like a dead connection would be (keepalive: 10 s + 5 s).
    const timeout = setTimeout(
      () => firstAnswer.reject(new Error("no answer within the attempt timeout")),
      ATTEMPT_TIMEOUT_MS,
    );
    try {
      await firstAnswer.promise;
    } catch (e) {
      if (s.stream === stream) s.stream = undefined;
      stream.cancel();
      client.close();
      if (s.client === client) s.client = undefined;
      throw e;
    } finally {
      clearTimeout(timeout);
    }
    answered = true;
    // Heartbeats every interval from a random phase, as independent nodes would.
    clearTimeout(s.timer);
    clearInterval(s.timer);
    s.timer = setTimeout(() => {
      beat(s);
      s.timer = setInterval(() => beat(s), interval);
    }, Math.random() * interval);
  };

  /**
   * Opens `s` until its first heartbeat is answered, retrying with backoff (250 ms growing to 2 s,
   * jittered, as an agent's dialer does) for up to {@link GIVE_UP_MS} or until a retarget.
   */
  const openWithRetry = async (s: SimNode, gen: number): Promise<void> => {
    const until = performance.now() + GIVE_UP_MS;
    for (let attempt = 0; gen === generation; attempt++) {
      try {
        await open(s, gen);
        return;
      } catch {
        if (performance.now() > until) {
          gaveUp++;
          return;
        }
        const backoff = Math.min(2000, 250 * 1.6 ** attempt);
        await new Promise((r) => setTimeout(r, backoff * (0.5 + Math.random() / 2)));
      }
    }
  };

  /** Opens all nodes, `concurrency` at a time (a pool, not batches). */
  const openAll = async (): Promise<void> => {
    let next = 0;
    const gen = generation;
    const worker = async () => {
      while (next < nodes.length && gen === generation) await openWithRetry(nodes[next++], gen);
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  };

  for (;;) {
    const msg = await nextLine();
    if (!msg || msg.cmd === "stop") break;
    if (msg.cmd === "connect") {
      // Not awaited, so that progress commands are answered during the ramp-up.
      const t0 = performance.now();
      void openAll().then(() =>
        send({ ev: "connected", ms: Math.round(performance.now() - t0), errors, lastError })
      );
    } else if (msg.cmd === "report") {
      send({
        ev: "report",
        rtts,
        errors,
        reconnects,
        lastError,
        streams: nodes.filter((n) => n.stream).length,
      });
      rtts = [];
    } else if (msg.cmd === "progress") {
      send({
        ev: "progress",
        notMoved: nodes.filter((n) => n.generation !== generation).length,
        gaveUp,
        pending: inOpen + queued.length,
        errors,
        lastError,
      });
    } else if (msg.cmd === "retarget") {
      // Failover: the old leader is gone; every node dials the new one (as a node's agent does
      // after GetCurrentLeader names it).
      info = msg.info as ServerInfo;
      generation++;
      moved = 0;
      gaveUp = 0;
      movedAt = performance.now();
      for (const s of nodes) {
        clearTimeout(s.timer);
        clearInterval(s.timer);
        s.stream = undefined;
        s.client?.close();
      }
      void openAll();
    }
  }
  for (const s of nodes) {
    clearTimeout(s.timer);
    clearInterval(s.timer);
    s.stream?.end();
    s.client?.close();
  }
  Deno.exit(0);
}
