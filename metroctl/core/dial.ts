/**
 * Connecting to the cluster (metroctl.md §6–§7): trust on first use for the CA, finding the
 * curator leader from `--endpoints`, typed clients to it with the owner credentials, and
 * node-local connections verifying the node ID. Connection establishment gives up after 20 s.
 */
import type * as grpc from "@grpc/grpc-js";
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
import type { Context } from "./context.ts";
import { CliError, describeError } from "./errors.ts";

/** How long connection establishment may take before giving up. */
export const CONNECT_TIMEOUT_MS = 20_000;
/** Per-attempt RPC deadline while connecting. */
const ATTEMPT_MS = 5_000;

/** The overall connect deadline of this process (set by the first connection attempt). */
let connectDeadline = 0;

/** Deadline of one attempt: 5 s, but never past the overall connect deadline. */
function attemptDeadline(): number {
  const now = Date.now();
  return connectDeadline
    ? Math.min(now + ATTEMPT_MS, Math.max(connectDeadline, now + 250))
    : now + ATTEMPT_MS;
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
async function fetchCA(ctx: Context, seed: string, identity: Identity): Promise<Uint8Array> {
  const p = await connectionParams(seed, { identity, socks5: ctx.proxy });
  const c = makeClient(CuratorLocal, p.address, p.credentials, p.options as grpc.ClientOptions);
  try {
    const r = await c.getCACertificate({}, { deadline: attemptDeadline() });
    return r.identityCaCertificate;
  } finally {
    c.close();
    await p.close();
  }
}

/** Runs `fn` over the seeds until one succeeds or the connect timeout passes. */
async function untilReachable<T>(
  ctx: Context,
  seeds: string[],
  fn: (seed: string) => Promise<T>,
  onRound?: (errors: Map<string, string>) => Promise<void>,
): Promise<T> {
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  connectDeadline = deadline;
  const errors = new Map<string, string>();
  let delay = 250;
  for (let round = 0;; round++) {
    for (const seed of seeds) {
      if (Date.now() >= deadline && errors.size) break;
      try {
        return await fn(seed);
      } catch (e) {
        const why = describeError(e);
        errors.set(seed, why);
        ctx.verbose(`${seed}: ${why}`);
      }
    }
    if (round === 0) await onRound?.(errors);
    if (Date.now() + delay > deadline || ctx.signal.aborted) break;
    await sleep(delay);
    delay = Math.min(delay * 2, 4_000);
  }
  const [seed, why] = [...errors][0];
  throw new CliError(`could not reach any cluster endpoint: ${seed}: ${why}`);
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
  const ca = await untilReachable(ctx, seeds, (s) => fetchCA(ctx, s, identity));
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
): Promise<{ nodeId: string; address: string }> {
  const p = await connectionParams(seed, { ca, identity, socks5: ctx.proxy });
  const c = makeClient(CuratorLocal, p.address, p.credentials, p.options as grpc.ClientOptions);
  const stream = c.getCurrentLeader({}, { deadline: attemptDeadline() });
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
  const ca = await clusterCA(ctx);
  const id = identity ?? await ownerIdentity(ctx);
  const leader = await untilReachable(
    ctx,
    seeds,
    (s) => leaderVia(ctx, s, ca, id),
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
