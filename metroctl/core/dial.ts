/**
 * Connecting to the cluster (metroctl.md §6–§7): trust on first use for the CA, finding the
 * curator leader from `--endpoints`, typed clients to it with the owner credentials, and
 * node-local connections verifying the node ID. An endpoint that refuses connections or does not
 * resolve (directly or through `--proxy`) is given up at once; one that accepts but does not
 * answer gets attempts of 4 s, then 8 s (a loaded node can be that slow to handshake) and is
 * given up after about 12 s; one that answers with an error (e.g. no leader elected yet) is
 * retried for up to 20 s.
 */
import * as grpc from "@grpc/grpc-js";
import net from "node:net";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { makeClient, type ServiceClient } from "../../proto/grpc.ts";
import { CuratorLocal } from "../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import {
  type ClientCertificate,
  type ConnectionParams,
  connectionParams,
} from "../../node/core/rpc/client.ts";
import { joinHostPort, leaderFromResponse, normalizeSeed } from "../../node/core/rpc/resolver.ts";
import { parseCertificate } from "../../node/base/pki/info.ts";
import { equalBytes, toHex } from "../../node/base/pki/keys.ts";
import { verifySignature } from "../../node/base/pki/verify.ts";
import { parseHostPort, replyText } from "../../node/base/socks/protocol.ts";
import { socks5Connect, SocksError } from "../../node/base/socks/client.ts";
import type { Context } from "./context.ts";
import { CliError, describeError, isServiceError } from "./errors.ts";

/** How long connection establishment may take before giving up. */
export const CONNECT_TIMEOUT_MS = 20_000;
/**
 * First per-attempt RPC deadline while connecting. An endpoint that accepts the connection but
 * lets it pass (a silent host — or a slow one: a node under load or a TCG VM can take longer for
 * its TLS handshake) is tried again with twice the deadline, as long as the connect deadline
 * leaves room.
 */
export const ATTEMPT_MS = 4_000;
/** How long a TCP connection to an endpoint (or through the proxy) may take to open. */
export const PROBE_MS = 3_000;

/** The overall connect deadline of this process (set by the first connection attempt). */
let connectDeadline = 0;

/** Deadline of an attempt of `ms`, but never past the overall connect deadline. */
function attemptDeadline(ms = ATTEMPT_MS): number {
  const now = Date.now();
  return connectDeadline ? Math.min(now + ms, Math.max(connectDeadline, now + 250)) : now + ms;
}

/** Client identity: cluster-issued, ephemeral for a key pair, or none. */
export type Identity = ClientCertificate | { ephemeral: CryptoKeyPair } | undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `SHA256:<hex>` fingerprint of a DER certificate. */
export async function fingerprint(der: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", der as BufferSource));
  return `SHA256:${toHex(h)}`;
}

/** The identity for TOFU: owner certificate, else ephemeral owner key, else none. */
export async function tofuIdentity(ctx: Context): Promise<Identity> {
  const key = await ctx.config.ownerKey();
  const cert = await ctx.config.ownerCertificate();
  if (key && cert) return { certificate: cert, privateKey: key.privateKey };
  if (key) return { ephemeral: key };
  return undefined;
}

/** Calls `CuratorLocal.GetCACertificate` on `seed` without verifying the server. */
async function fetchCA(
  ctx: Context,
  seed: string,
  identity: Identity,
  attemptMs = ATTEMPT_MS,
): Promise<Uint8Array> {
  const p = await connectionParams(seed, { identity, socks5: ctx.proxy });
  const c = makeClient(CuratorLocal, p.address, p.credentials, p.options as grpc.ClientOptions);
  try {
    const r = await c.getCACertificate({}, { deadline: attemptDeadline(attemptMs) });
    return r.identityCaCertificate;
  } finally {
    c.close();
    await p.close();
  }
}

/** Text of a socket error: what the user can act on, without the syscall noise. */
function socketErrorText(e: unknown, host: string): string {
  const code = (e as { code?: string }).code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return `cannot resolve host ${JSON.stringify(host)}`;
    case "EHOSTUNREACH":
      return "host unreachable";
    case "ENETUNREACH":
      return "network unreachable";
    case "ECONNRESET":
      return "connection reset";
    default:
      return (e as Error).message ?? String(e);
  }
}

/** Rejects with `timeout()` unless `p` settles within `ms`. */
function within<T>(p: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => timer = setTimeout(() => reject(timeout()), ms)),
  ]).finally(() => clearTimeout(timer));
}

/** Why no TCP connection to `host:port` opens within {@link PROBE_MS}, or undefined. */
async function tcpProbe(host: string, port: number): Promise<string | undefined> {
  try {
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect({ host, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`no answer within ${PROBE_MS / 1000} s`));
      }, PROBE_MS);
      sock.once("connect", () => {
        clearTimeout(timer);
        sock.destroy();
        resolve();
      });
      sock.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    return undefined;
  } catch (e) {
    return socketErrorText(e, host);
  }
}

/**
 * Why `seed` cannot be reached, or undefined if a TCP connection opens (directly, or through the
 * SOCKS5 `--proxy`, which a failure then names) within {@link PROBE_MS}. These causes do not go
 * away by retrying for a while, unlike the errors of a server that answers.
 */
export async function unreachable(seed: string, proxy?: string): Promise<string | undefined> {
  let target;
  try {
    target = parseHostPort(seed);
  } catch {
    return "not a host:port endpoint";
  }
  if (!proxy) return await tcpProbe(target.host, target.port);
  let via;
  try {
    via = parseHostPort(proxy);
  } catch {
    return `proxy ${proxy}: not a host:port address`;
  }
  const dead = await tcpProbe(via.host, via.port);
  if (dead) return `proxy ${proxy}: ${dead}`;
  const pending = socks5Connect(via, target, PROBE_MS);
  // Whenever it settles (also after the timeout below), nothing is left open.
  pending.then((sock) => sock.destroy(), () => {});
  try {
    await within(pending, PROBE_MS, () => new Error(`no answer within ${PROBE_MS / 1000} s`));
    return undefined;
  } catch (e) {
    return e instanceof SocksError
      ? `proxy ${proxy} could not connect: ${replyText(e.reply)}`
      : `proxy ${proxy}: ${(e as Error).message.replace(/^socks: /, "")}`;
  }
}

/** At most this many endpoints are named in an error (each with its cause). */
const NAMED_ENDPOINTS = 3;

/**
 * Runs `fn` over the seeds until one succeeds or the connect timeout passes. A seed that is
 * {@link unreachable} is not tried again; one that lets an attempt's deadline pass gets twice the
 * time on its next try, unless that would not fit before the connect deadline. With no seed left
 * the error comes at once, naming each seed and why.
 */
async function untilReachable<T>(
  ctx: Context,
  seeds: string[],
  fn: (seed: string, attemptMs: number) => Promise<T>,
  onRound?: (errors: Map<string, string>) => Promise<void>,
): Promise<T> {
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  connectDeadline = deadline;
  const errors = new Map<string, string>();
  const givenUp = new Set<string>();
  const attemptMs = new Map<string, number>();
  let delay = 250;
  for (let round = 0;; round++) {
    for (const seed of seeds) {
      if (givenUp.has(seed)) continue;
      if (Date.now() >= deadline && errors.size) break;
      if (round === 0) {
        const why = await unreachable(seed, ctx.proxy);
        if (why) {
          errors.set(seed, why);
          givenUp.add(seed);
          ctx.verbose(`${seed}: ${why}`);
          continue;
        }
      }
      const ms = attemptMs.get(seed) ?? ATTEMPT_MS;
      const started = Date.now();
      try {
        return await fn(seed, ms);
      } catch (e) {
        let why = describeError(e);
        if (isServiceError(e) && e.code === grpc.status.DEADLINE_EXCEEDED) {
          why = `no answer within ${Math.round((Date.now() - started) / 1000)} s`;
          // A longer attempt only helps if it still has the time to run: at least the one that
          // just failed.
          if (Date.now() + ms > deadline) givenUp.add(seed);
          else attemptMs.set(seed, ms * 2);
        }
        errors.set(seed, why);
        ctx.verbose(`${seed}: ${why}`);
      }
    }
    if (givenUp.size === seeds.length) break;
    if (round === 0) await onRound?.(errors);
    if (Date.now() + delay > deadline || ctx.signal.aborted) break;
    await sleep(delay);
    delay = Math.min(delay * 2, 4_000);
  }
  const named = [...errors].slice(0, NAMED_ENDPOINTS).map(([seed, why]) => `${seed}: ${why}`);
  const more = errors.size > NAMED_ENDPOINTS ? ` (and ${errors.size - NAMED_ENDPOINTS} more)` : "";
  const via = ctx.proxy ? ` via proxy ${ctx.proxy}` : "";
  throw new CliError(`could not reach any cluster endpoint${via}: ${named.join("; ")}${more}`);
}

/**
 * The cluster CA: the pinned `ca.pem`, or fetched and pinned per §6 (owner certificate,
 * `--insecure-accept-and-persist-first-encountered-ca`, interactive prompt).
 */
export async function clusterCA(ctx: Context): Promise<Uint8Array> {
  const pinned = await ctx.config.ca();
  if (pinned) return pinned;
  const seeds = ctx.endpoints().map(normalizeSeed);
  const identity = await tofuIdentity(ctx);
  const ca = await untilReachable(ctx, seeds, (s, ms) => fetchCA(ctx, s, identity, ms));
  if (ca.length === 0) throw new CliError("cluster returned empty CA certificate");
  try {
    parseCertificate(ca);
  } catch {
    throw new CliError("cluster returned invalid CA certificate");
  }
  const fp = await fingerprint(ca);
  const ownerCert = await ctx.config.ownerCertificate();
  if (ownerCert) {
    if (!await verifySignature(ownerCert, ca).catch(() => false)) {
      throw new CliError("server CA doesn't match owner certificate");
    }
  } else if (ctx.bool("insecure-accept-and-persist-first-encountered-ca")) {
    ctx.verbose(`accepting cluster CA ${fp} without asking`);
  } else if (Deno.stdin.isTerminal()) {
    const via = ctx.proxy ? ` via proxy ${ctx.proxy}` : "";
    const answer = prompt(
      `The cluster at endpoints ${
        ctx.endpoints().join(", ")
      }${via} presented a CA certificate that is not trusted yet.\nCA fingerprint: ${fp}\nTrust this CA and continue (yes/no)?`,
    );
    if ((answer ?? "").trim().toLowerCase() !== "yes") {
      throw new CliError("cluster CA rejected by user");
    }
  } else {
    throw new CliError(
      `cluster CA not trusted yet (${fp}); run interactively or pass --insecure-accept-and-persist-first-encountered-ca`,
    );
  }
  await ctx.config.writeCA(ca);
  ctx.stderr(`Pinned cluster CA ${fp} in ${ctx.config.path("ca.pem")}`);
  return ca;
}

/** Owner credentials from `owner.pem` + `owner-key.pem`; exit 1 without them. */
export async function ownerIdentity(ctx: Context): Promise<ClientCertificate> {
  const key = await ctx.config.ownerKey();
  const cert = await ctx.config.ownerCertificate();
  if (!key || !cert) {
    throw new CliError(
      `no owner credentials in ${ctx.config.dir}: run 'metroctl cluster takeownership' first`,
    );
  }
  return { certificate: cert, privateKey: key.privateKey };
}

/** A connected cluster: clients to the curator leader. */
export interface Cluster {
  ca: Uint8Array;
  identity: Identity;
  leader: { nodeId: string; address: string };
  /** A typed client for `service` on the leader. */
  client<S extends GenServiceMethods>(service: GenService<S>): Promise<ServiceClient<S>>;
  /** A typed client for `service` on a node's `address:port`, verifying its node ID. */
  nodeClient<S extends GenServiceMethods>(
    service: GenService<S>,
    address: string,
    port: number,
    nodeId: string,
  ): Promise<ServiceClient<S>>;
  close(): Promise<void>;
}

/** Finds the leader with `CuratorLocal.GetCurrentLeader` (first answer of a seed). */
async function leaderVia(
  ctx: Context,
  seed: string,
  ca: Uint8Array,
  identity: Identity,
  attemptMs: number,
): Promise<{ nodeId: string; address: string }> {
  const p = await connectionParams(seed, { ca, identity, socks5: ctx.proxy });
  const c = makeClient(CuratorLocal, p.address, p.credentials, p.options as grpc.ClientOptions);
  const stream = c.getCurrentLeader({}, { deadline: attemptDeadline(attemptMs) });
  try {
    for await (const r of stream) {
      // The shared interpretation: the answering leader is dialled at the seed itself (its
      // advertised address may differ behind port forwarding), others at host:port.
      const leader = leaderFromResponse(r, seed);
      if (!leader) throw new Error("leader unknown");
      return leader;
    }
    throw new Error("GetCurrentLeader ended without an answer");
  } finally {
    stream.cancel();
    c.close();
    await p.close();
  }
}

/** Connects to the cluster leader with `identity` (default: the owner credentials). */
export async function connectCluster(ctx: Context, identity?: Identity): Promise<Cluster> {
  const seeds = ctx.endpoints().map(normalizeSeed);
  // Credentials first: without them, trusting the CA would not help.
  const id = identity ?? await ownerIdentity(ctx);
  const ca = await clusterCA(ctx);
  const leader = await untilReachable(
    ctx,
    seeds,
    (s, ms) => leaderVia(ctx, s, ca, id, ms),
    async () => {
      // A server that does not chain to the pinned CA fails every handshake: say so at once.
      const seen = await fetchCA(ctx, seeds[0], undefined).catch(() => undefined);
      if (seen?.length && !equalBytes(seen, ca)) {
        throw new CliError("server certificate is not signed by the pinned cluster CA (ca.pem)");
      }
    },
  );
  ctx.verbose(`leader is ${leader.nodeId} at ${leader.address}`);
  const opened: { close(): void }[] = [];
  const params: ConnectionParams[] = [];
  const open = async <S extends GenServiceMethods>(
    service: GenService<S>,
    target: string,
    nodeId: string,
  ) => {
    const p = await connectionParams(target, { ca, nodeId, identity: id, socks5: ctx.proxy });
    params.push(p);
    const c = makeClient(service, p.address, p.credentials, p.options as grpc.ClientOptions);
    opened.push(c);
    return c;
  };
  return {
    ca,
    identity: id,
    leader,
    client: (service) => open(service, leader.address, leader.nodeId),
    nodeClient: (service, address, port, nodeId) =>
      open(service, joinHostPort(address, port), nodeId),
    async close() {
      for (const c of opened) c.close();
      for (const p of params) await p.close();
    },
  };
}
