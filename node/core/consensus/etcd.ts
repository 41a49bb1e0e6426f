/**
 * The etcd server of a ConsensusMember (node.md §11.1–§11.5), as a supervised child process.
 *
 * Layout under the data directory (`/data/etcd`): `peer-pki/{ca.pem,cert.pem,key.pem}`,
 * `peer.crl`, `data/`. The client socket is `<socket dir>/client.sock:0` (etcd 3.4 accepts only
 * the host:port form of unix URLs, so etcd runs with the socket directory as cwd).
 *
 * Three ways to start:
 * - **bootstrap** (no data yet, new cluster): the etcd CA, this member's peer certificate and the
 *   CRL are made in memory and written to disk first, so etcd runs with peer TLS from its first
 *   start (advertising the loopback peer URL, with a short election timeout: a single member
 *   campaigns alone). Inside it the CA's key and certificates are stored under `etcd-pki/`, the
 *   member's peer URL is switched to `https://<node ID>:7834`, and etcd is stopped; it restarts
 *   from its data with the normal timing;
 * - **join** (no data yet, ConsensusMember role data from the curator): the files come from the
 *   role data, `--initial-cluster` = this node + the full members, state `existing`;
 * - **restart** (data present, incl. cold start §11.5): etcd starts from its data directory.
 */
import { etcdClient } from "./client.ts";
import type { NodeRoles_ConsensusMember } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { certificatePem } from "../../base/pki/info.ts";
import { exportPkcs8Pem, importEd25519Public } from "../../base/pki/keys.ts";
import { exists } from "../../base/sys/exists.ts";
import { runCommand } from "../../base/supervisor/runcommand.ts";
import { placeIn } from "../cgroups/node_cgroups.ts";
import type { Context } from "../../base/supervisor/supervisor.ts";
import { etcdPeerTemplate } from "../identity/profiles.ts";
import { MemoryPkiStorage } from "../../base/pki/storage.ts";
import { KV } from "./kv.ts";
import { ETCD_PKI_NAMESPACE, etcdCAIn, PEER_PORT, peerURL } from "./membership.ts";
import { EtcdPkiStorage } from "./pkistorage.ts";

/** Options of the etcd service. */
export interface EtcdOptions {
  nodeId: string;
  /** The node's Ed25519 key pair: its private key is the peer key. */
  nodeKeys: CryptoKeyPair;
  /** `/data/etcd` (platform-specific). */
  dataDir: string;
  /** `/ephemeral/consensus`. */
  socketDir: string;
  /** etcd binary (default: `/etcd/bin/etcd` if present, else `etcd` from PATH). */
  binary?: string;
  /** Extra SANs of the peer certificate (namespace mode: the node address). */
  extraPeerNames?: string[];
  /** Metrics listener (default http://127.0.0.1:7842). */
  metricsURL?: string;
}

/**
 * How etcd is stopped. Its graceful stop (SIGTERM) sends an HTTP/2 GOAWAY on every client
 * connection, and a Deno HTTP/2 client that receives a GOAWAY on a session that ran streams can
 * die inside nghttp2 (denoland/deno#36788) — our clients live in the agent, so the whole node
 * would go down with it (seen once right after bootstrap's stop-and-restart). SIGKILL drops the
 * connections instead, which the clients handle as a reconnect. Nothing acknowledged is lost:
 * etcd fsyncs its WAL before it answers a write. The cost: a stopping leader does not hand over
 * leadership first, so the other members elect after their election timeout.
 */
export const ETCD_STOP_SIGNAL = "SIGKILL";

/** Path of the client socket. */
export const clientSocket = (socketDir: string) => `${socketDir}/client.sock:0`;
/** etcd3 host string of the client socket. */
export const clientEndpoint = (socketDir: string) => `unix://${clientSocket(socketDir)}`;

function etcdBinary(o: EtcdOptions): string {
  if (o.binary) return o.binary;
  try {
    Deno.statSync("/etcd/bin/etcd");
    return "/etcd/bin/etcd";
  } catch {
    return "etcd";
  }
}

/** Whether etcd has data for this node (then it restarts from it). */
export function hasData(o: EtcdOptions): Promise<boolean> {
  return exists(`${o.dataDir}/data/member`);
}

/**
 * Raft settings of the bootstrap's single-member run. It campaigns alone, so the election timeout
 * (ms) is only the wait before its one vote (etcd's defaults, 100/1000 ms, would cost up to a
 * second). And it snapshots after every few entries, so the restart finds the membership in a
 * snapshot: etcd 3.4 fast-forwards the first election only when it knows at start that it is a
 * single member; restored from the log alone it waits a full election timeout (1–2 s). The
 * supervised etcd always runs with etcd's default timing.
 */
export const BOOTSTRAP_RAFT = { heartbeatMs: 10, electionMs: 100, snapshotCount: 1 } as const;

/** The peer side of an etcd start (see {@link etcdArgs}). */
export interface EtcdPeer {
  initialCluster?: string;
  state?: "new" | "existing";
  /** Advertised peer URL at the first start (default: {@link peerURL} of the node). */
  advertise?: string;
  /** The bootstrap's single-member run ({@link BOOTSTRAP_RAFT}). */
  singleMemberBootstrap?: boolean;
}

/** The flags of every start (peers always with TLS); `peer` adds what differs between starts. */
export function etcdArgs(o: EtcdOptions, peer: EtcdPeer = {}): string[] {
  const pki = `${o.dataDir}/peer-pki`;
  const args = [
    etcdBinary(o),
    `--name=${o.nodeId}`,
    `--data-dir=${o.dataDir}/data`,
    "--listen-client-urls=unix://client.sock:0",
    "--advertise-client-urls=unix://client.sock:0",
    `--listen-metrics-urls=${o.metricsURL ?? "http://127.0.0.1:7842"}`,
    "--initial-cluster-token=METROPOLIS",
    "--logger=zap",
    "--log-outputs=stderr",
    `--snapshot-count=${peer.singleMemberBootstrap ? BOOTSTRAP_RAFT.snapshotCount : 10000}`,
    `--listen-peer-urls=https://0.0.0.0:${PEER_PORT}`,
    `--initial-advertise-peer-urls=${peer.advertise ?? peerURL(o.nodeId)}`,
    `--peer-cert-file=${pki}/cert.pem`,
    `--peer-key-file=${pki}/key.pem`,
    `--peer-trusted-ca-file=${pki}/ca.pem`,
    "--peer-client-cert-auth",
    `--peer-crl-file=${o.dataDir}/peer.crl`,
  ];
  if (peer.initialCluster) args.push(`--initial-cluster=${peer.initialCluster}`);
  if (peer.state) args.push(`--initial-cluster-state=${peer.state}`);
  if (peer.singleMemberBootstrap) {
    args.push(
      `--heartbeat-interval=${BOOTSTRAP_RAFT.heartbeatMs}`,
      `--election-timeout=${BOOTSTRAP_RAFT.electionMs}`,
    );
  }
  return args;
}

/** Writes the peer PKI files (mode 0600). */
export async function writePeerPki(
  o: EtcdOptions,
  files: { ca: Uint8Array; cert: Uint8Array; crl: Uint8Array },
): Promise<void> {
  const pki = `${o.dataDir}/peer-pki`;
  await Deno.mkdir(pki, { recursive: true, mode: 0o700 });
  const w = (p: string, d: string | Uint8Array) =>
    typeof d === "string"
      ? Deno.writeTextFile(p, d, { mode: 0o600 })
      : Deno.writeFile(p, d, { mode: 0o600 });
  await w(`${pki}/ca.pem`, certificatePem(files.ca));
  await w(`${pki}/cert.pem`, certificatePem(files.cert));
  await w(`${pki}/key.pem`, await exportPkcs8Pem(o.nodeKeys.privateKey));
  await w(`${o.dataDir}/peer.crl`, files.crl);
}

/** Waits until etcd at the socket answers a linearizable read. */
export async function waitReady(socketDir: string, signal: AbortSignal): Promise<void> {
  for (;;) {
    signal.throwIfAborted();
    // A fresh client per attempt: a grpc-js channel that failed once (socket not there yet)
    // backs off its reconnects for seconds, which would delay the curator long after etcd serves.
    const client = etcdClient(clientEndpoint(socketDir), { dialTimeout: 1000 });
    try {
      await new KV(client).revision();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      client.close();
    }
  }
}

/**
 * First start of a new cluster's first member (§11.2): see the module comment. `inside` runs
 * against the root KV while etcd serves (the curator's bootstrap writes there).
 */
export async function bootstrapEtcd(
  o: EtcdOptions,
  log: (l: string) => void,
  inside?: (root: KV) => Promise<void>,
): Promise<{ ca: Uint8Array; cert: Uint8Array; crl: Uint8Array }> {
  await Deno.mkdir(o.dataDir, { recursive: true, mode: 0o700 });
  await Deno.mkdir(o.socketDir, { recursive: true });
  // The CA is made before etcd exists (in memory), so etcd needs no plain-peer first run.
  const made = new MemoryPkiStorage();
  const ca = etcdCAIn(made);
  const cert = await ca.ensure(
    o.nodeId,
    etcdPeerTemplate(o.nodeId, o.extraPeerNames ?? []),
    await importEd25519Public(
      new Uint8Array(await crypto.subtle.exportKey("raw", o.nodeKeys.publicKey)),
    ),
  );
  const files = { ca: await ca.certificate(), cert, crl: await ca.crl() };
  await writePeerPki(o, files);
  // The node ID does not resolve yet (/etc/hosts is written once the node runs its roles), and
  // etcd resolves the advertised URL of a new cluster: advertise loopback, switch below.
  const loopback = `https://127.0.0.1:${PEER_PORT}`;
  const argv = etcdArgs(o, {
    initialCluster: `${o.nodeId}=${loopback}`,
    state: "new",
    advertise: loopback,
    singleMemberBootstrap: true,
  });
  log("bootstrapping etcd: first start with peer TLS");
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: o.socketDir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const drain = (async () => {
    for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr = (stderr + c).slice(-4000);
    }
  })();
  const ac = new AbortController();
  child.status.then(() => ac.abort(new Error(`etcd exited during bootstrap:\n${stderr}`)));
  try {
    await waitReady(o.socketDir, ac.signal);
    const client = etcdClient(clientEndpoint(o.socketDir));
    try {
      const root = new KV(client);
      const stored = new EtcdPkiStorage(root.namespace(ETCD_PKI_NAMESPACE));
      for (const [k, v] of made.data) await stored.createIfAbsent(k, v);
      const { members } = await client.cluster.memberList({});
      await client.cluster.memberUpdate({ ID: members[0].ID, peerURLs: [peerURL(o.nodeId)] });
      if (inside) await inside(root);
    } finally {
      client.close();
    }
  } finally {
    try {
      child.kill(ETCD_STOP_SIGNAL);
    } catch { /* exited */ }
    await child.status;
    await drain.catch(() => {});
  }
  log("etcd bootstrapped; restarting from its data");
  return files;
}

/** Prepares a joining member's files from its ConsensusMember role data (§11.3). */
export async function prepareJoin(o: EtcdOptions, cm: NodeRoles_ConsensusMember): Promise<string> {
  await Deno.mkdir(o.dataDir, { recursive: true, mode: 0o700 });
  await writePeerPki(o, { ca: cm.caCertificate, cert: cm.peerCertificate, crl: cm.initialCrl });
  const peers = cm.peers.filter((p) => p.name !== o.nodeId).map((p) => `${p.name}=${p.url}`);
  return [`${o.nodeId}=${peerURL(o.nodeId)}`, ...peers].join(",");
}

/**
 * Runs etcd under the supervisor (Healthy once the socket serves), starting it per the module
 * comment. `join` is the ConsensusMember role data when this member joins an existing cluster.
 * `beforeStop` is awaited on abort while etcd still serves (runCommand's option of that name).
 */
export async function runEtcd(
  ctx: Context,
  o: EtcdOptions,
  mode: { bootstrap: true } | { join: NodeRoles_ConsensusMember } | { restart: true },
  beforeStop?: () => Promise<void>,
): Promise<void> {
  await Deno.mkdir(o.socketDir, { recursive: true });
  await Deno.remove(clientSocket(o.socketDir)).catch(() => {});
  let peer: EtcdPeer = {};
  if (!(await hasData(o))) {
    if ("bootstrap" in mode) {
      await bootstrapEtcd(o, (l) => ctx.logger.info(l));
    } else if ("join" in mode) {
      peer = { initialCluster: await prepareJoin(o, mode.join), state: "existing" };
    } else {
      throw new Error("etcd has no data and no join data: cannot start");
    }
  }
  await runCommand(ctx, etcdArgs(o, peer), {
    cwd: o.socketDir,
    stopSignal: ETCD_STOP_SIGNAL,
    beforeStop,
    parser: "etcd-json",
    // With the agent: the control plane the node's own health depends on.
    onSpawn: placeIn("system"),
    readiness: async (signal) => {
      try {
        await waitReady(o.socketDir, AbortSignal.any([signal, AbortSignal.timeout(1000)]));
        return true;
      } catch {
        return false;
      }
    },
  });
}
