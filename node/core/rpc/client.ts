/**
 * Client side of the Cluster API (node.md §10.4): channel credentials that verify the server as a
 * node of the cluster (optionally a specific node), present a cluster or ephemeral client
 * certificate, and keep the connection alive. TOFU mode (no CA) accepts any server certificate.
 */
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import type { DetailedPeerCertificate, PeerCertificate } from "node:tls";
import { certificatePem, parseCertificate } from "../../base/pki/info.ts";
import { equalBytes, exportPkcs8Pem } from "../../base/pki/keys.ts";
import { checkNodeProfile, IdentityError } from "../identity/verify.ts";
import { ephemeralCertificate } from "../identity/profiles.ts";
import { installIpServernameFix } from "./servername.ts";
import { installDecoderRelease } from "./decoder_release.ts";
import { parseHostPort } from "../../base/socks/protocol.ts";
import { startSocksRelay } from "../../base/socks/relay.ts";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { makeClient, type ServiceClient } from "../../../proto/grpc.ts";

/** Client keepalive: ping every 10 s, 5 s timeout, also without active calls. */
export const CLIENT_KEEPALIVE_OPTIONS: grpc.ChannelOptions = {
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
};

/** A client certificate issued by the cluster, with its key. */
export interface ClientCertificate {
  certificate: Uint8Array;
  privateKey: CryptoKey;
}

/** Options of {@link connectionParams}. */
export interface DialOptions {
  /** DER of the cluster CA. Absent: TOFU, any server certificate is accepted. */
  ca?: Uint8Array;
  /** Node ID the server must have (7839, 7840, the resolved leader). */
  nodeId?: string;
  /** Client certificate: a cluster-issued one, an ephemeral one for this key pair, or none. */
  identity?: ClientCertificate | { ephemeral: CryptoKeyPair };
  /** Keepalive per {@link CLIENT_KEEPALIVE_OPTIONS} (default true). */
  keepalive?: boolean;
  /** Extra grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
  /**
   * SOCKS5 proxy `host:port`: the target is reached through a loopback relay (grpc-js only knows
   * HTTP CONNECT proxies). The relay lives until {@link ConnectionParams.close} / client close.
   */
  socks5?: string;
}

/** What grpc-js needs to open a channel: feed to `new grpc.Client(...)` or `makeClient(...)`. */
export interface ConnectionParams {
  address: string;
  credentials: grpc.ChannelCredentials;
  options: grpc.ClientOptions;
  /** Releases resources of the connection (the SOCKS relay); call after closing clients. */
  close(): Promise<void>;
}

/**
 * A `checkServerIdentity` for servers that must be nodes of the cluster with CA `caDer`. The TLS
 * stack has verified the chain against the CA; this checks that the verified path is the leaf
 * directly under the cluster CA (Deno exposes only the verified path, so this is how "exactly one
 * certificate" is enforced: no intermediate can sit in between), the node profile, and `nodeId`
 * when given. Synchronous as TLS requires.
 */
export function nodeServerIdentityCheck(
  caDer: Uint8Array,
  nodeId?: string,
): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, peer) => {
    // Node and Deno pass the detailed form (with issuerCertificate) to checkServerIdentity.
    const cert = peer as DetailedPeerCertificate;
    try {
      if (!cert?.raw?.length) return new Error("server sent no certificate");
      const issuer = cert.issuerCertificate;
      if (issuer && issuer !== cert && !equalBytes(new Uint8Array(issuer.raw), caDer)) {
        return new Error("server certificate is not issued directly by the cluster CA");
      }
      const id = serverNodeId(new Uint8Array(cert.raw));
      if (nodeId !== undefined && id !== nodeId) {
        return new Error(`server is node ${id}, expected ${nodeId}`);
      }
      return undefined;
    } catch (e) {
      const reason = e instanceof IdentityError ? e.reason : (e as Error).message;
      return new Error(`server is not a cluster node: ${reason}`);
    }
  };
}

/**
 * Node IDs of recently seen server certificates that passed the node profile check: a client
 * re-dials the same few servers (the leader, its curator's followers), and parsing the
 * certificate cost ≈ 1.5 ms of each connection's handshake.
 */
const serverIds: { der: Uint8Array; nodeId: string }[] = [];
const SERVER_ID_CACHE = 16;

/** {@link checkNodeProfile}'s node ID of the server certificate `der` (throws like it). */
function serverNodeId(der: Uint8Array): string {
  const hit = serverIds.find((e) => equalBytes(e.der, der));
  if (hit) return hit.nodeId;
  const nodeId = checkNodeProfile(parseCertificate(der)).nodeId;
  serverIds.unshift({ der, nodeId });
  serverIds.length = Math.min(serverIds.length, SERVER_ID_CACHE);
  return nodeId;
}

type Credentials = { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions };

/**
 * Credentials already built, by CA, client certificate and key, then node ID and keepalive. grpc-js
 * shares one connection between channels to the same address whose options are equal and whose
 * credentials are the same object (its subchannel pool), so a node's resolver streams, node watch
 * and leader clients, which each open their own channel, ride on one TLS connection per curator
 * instead of one each: the leader holds one connection per node, and a new leader costs each node
 * one handshake. Keyed weakly: a renewed certificate or another cluster's CA drops its entries.
 */
const credentialCache = new WeakMap<object, unknown>();
const NO_IDENTITY = {};

/**
 * Builds channel credentials and options per {@link DialOptions}; equal options (same CA,
 * certificate and key objects) give the same credentials, see {@link credentialCache}. An
 * ephemeral identity, TOFU and extra channel options are built afresh.
 */
export function channelCredentials(opts: DialOptions): Promise<Credentials> {
  const id = opts.identity;
  if (!opts.ca || opts.channelOptions || (id && "ephemeral" in id)) return buildCredentials(opts);
  // CA → certificate → private key → node ID and keepalive.
  let level: WeakMap<object, unknown> = credentialCache;
  for (const k of [opts.ca, id?.certificate ?? NO_IDENTITY]) {
    let next = level.get(k) as WeakMap<object, unknown> | undefined;
    if (!next) level.set(k, next = new WeakMap());
    level = next;
  }
  const keyObject = id?.privateKey ?? NO_IDENTITY;
  let byTarget = level.get(keyObject) as Map<string, Promise<Credentials>> | undefined;
  if (!byTarget) level.set(keyObject, byTarget = new Map());
  const key = `${opts.nodeId ?? ""}|${opts.keepalive !== false}`;
  const hit = byTarget.get(key);
  if (hit) return hit;
  const built = buildCredentials(opts);
  const entries = byTarget;
  entries.set(key, built);
  built.catch(() => entries.get(key) === built && entries.delete(key));
  return built;
}

async function buildCredentials(opts: DialOptions): Promise<Credentials> {
  installIpServernameFix();
  installDecoderRelease();
  let certPem: Buffer | null = null;
  let keyPem: Buffer | null = null;
  const id = opts.identity;
  if (id) {
    const [der, key] = "ephemeral" in id
      ? [await ephemeralCertificate(id.ephemeral), id.ephemeral.privateKey]
      : [id.certificate, id.privateKey];
    certPem = Buffer.from(certificatePem(der));
    keyPem = Buffer.from(await exportPkcs8Pem(key));
  }
  const options: grpc.ChannelOptions = {
    ...(opts.keepalive === false ? {} : CLIENT_KEEPALIVE_OPTIONS),
    ...(opts.nodeId ? { "grpc.ssl_target_name_override": opts.nodeId } : {}),
    ...opts.channelOptions,
  };
  const credentials = opts.ca
    ? grpc.credentials.createSsl(Buffer.from(certificatePem(opts.ca)), keyPem, certPem, {
      checkServerIdentity: nodeServerIdentityCheck(opts.ca, opts.nodeId),
    })
    : grpc.credentials.createSsl(null, keyPem, certPem, { rejectUnauthorized: false });
  // Shared between the callers of one cache entry: nobody may change it.
  return { credentials, options: Object.freeze(options) };
}

/** Connection parameters for `target` (`host:port`, IPv6 as `[addr]:port`). */
export async function connectionParams(
  target: string,
  opts: DialOptions,
): Promise<ConnectionParams> {
  const { credentials, options } = await channelCredentials(opts);
  if (!opts.socks5) {
    return { address: target, credentials, options, close: () => Promise.resolve() };
  }
  const relay = await startSocksRelay(parseHostPort(opts.socks5), parseHostPort(target));
  return { address: relay.address, credentials, options, close: () => relay.close() };
}

/**
 * Opens a generic grpc-js client to `target` per {@link DialOptions}; `close()` also stops a SOCKS
 * relay.
 */
export async function dial(target: string, opts: DialOptions): Promise<grpc.Client> {
  const p = await connectionParams(target, opts);
  return closingRelay(new grpc.Client(p.address, p.credentials, p.options), p);
}

/**
 * A typed client of `service` at `target` per {@link DialOptions}; `close()` also stops the SOCKS
 * relay the dial may have opened (one local listener per dial, which would otherwise outlive the
 * client).
 */
export async function dialService<S extends GenServiceMethods>(
  service: GenService<S>,
  target: string,
  opts: DialOptions,
): Promise<ServiceClient<S>> {
  const p = await connectionParams(target, opts);
  return closingRelay(
    makeClient(service, p.address, p.credentials, p.options as grpc.ClientOptions),
    p,
  );
}

function closingRelay<C extends { close(): void }>(client: C, p: ConnectionParams): C {
  const close = client.close.bind(client);
  client.close = () => {
    close();
    void p.close();
  };
  return client;
}
