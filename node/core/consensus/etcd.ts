/**
 * The etcd server of a ConsensusMember (node.md §11.1–§11.5), as a supervised child process.
 *
 * Layout under the data directory (`/data/etcd`): `peer-pki/{ca.pem,cert.pem,key.pem}`,
 * `peer.crl`, `data/`. The client socket is `<socket dir>/client.sock:0` (etcd 3.4 accepts only
 * the host:port form of unix URLs, so etcd runs with the socket directory as cwd).
 *
 * Three ways to start:
 * - **bootstrap** (no data yet, new cluster): etcd runs once with plain-HTTP peers on loopback,
 *   the etcd CA and this member's peer certificate and CRL are created inside it and written to
 *   disk, the member's peer URL is switched to `https://<node ID>:7834`, and etcd restarts with
 *   peer TLS;
 * - **join** (no data yet, ConsensusMember role data from the curator): the files come from the
 *   role data, `--initial-cluster` = this node + the full members, state `existing`;
 * - **restart** (data present, incl. cold start §11.5): etcd starts from its data directory.
 */
import { Etcd3 } from "etcd3";
import type { NodeRoles_ConsensusMember } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { certificatePem } from "../../base/pki/info.ts";
import { exportPkcs8Pem, importEd25519Public } from "../../base/pki/keys.ts";
import { exists } from "../../base/sys/exists.ts";
import { runCommand } from "../../base/supervisor/runcommand.ts";
import type { Context } from "../../base/supervisor/supervisor.ts";
import { etcdPeerTemplate } from "../identity/profiles.ts";
import { KV } from "./kv.ts";
import { etcdCA, PEER_PORT, peerURL } from "./membership.ts";

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

/** Common flags; `peer` decides TLS and listen URLs. */
export function etcdArgs(
  o: EtcdOptions,
  peer: { tls: boolean; initialCluster?: string; state?: "new" | "existing" },
): string[] {
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
    "--snapshot-count=10000",
  ];
  if (peer.tls) {
    args.push(
      `--listen-peer-urls=https://0.0.0.0:${PEER_PORT}`,
      `--initial-advertise-peer-urls=${peerURL(o.nodeId)}`,
      `--peer-cert-file=${pki}/cert.pem`,
      `--peer-key-file=${pki}/key.pem`,
      `--peer-trusted-ca-file=${pki}/ca.pem`,
      "--peer-client-cert-auth",
      `--peer-crl-file=${o.dataDir}/peer.crl`,
    );
  } else {
    const url = `http://127.0.0.1:${PEER_PORT}`;
    args.push(`--listen-peer-urls=${url}`, `--initial-advertise-peer-urls=${url}`);
  }
  if (peer.initialCluster) args.push(`--initial-cluster=${peer.initialCluster}`);
  if (peer.state) args.push(`--initial-cluster-state=${peer.state}`);
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
    const client = new Etcd3({ hosts: clientEndpoint(socketDir), dialTimeout: 1000 });
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
 * First start of a new cluster's first member (§11.2). Runs etcd as a plain child, creates the
 * etcd PKI in it, writes the files, moves the peer URL to TLS and stops etcd again.
 */
export async function bootstrapEtcd(
  o: EtcdOptions,
  log: (l: string) => void,
  inside?: (root: KV) => Promise<void>,
): Promise<{ ca: Uint8Array; cert: Uint8Array; crl: Uint8Array }> {
  await Deno.mkdir(o.dataDir, { recursive: true, mode: 0o700 });
  await Deno.mkdir(o.socketDir, { recursive: true });
  const argv = etcdArgs(o, {
    tls: false,
    initialCluster: `${o.nodeId}=http://127.0.0.1:${PEER_PORT}`,
    state: "new",
  });
  log("bootstrapping etcd: first start with loopback peers");
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
  let files: { ca: Uint8Array; cert: Uint8Array; crl: Uint8Array };
  try {
    await waitReady(o.socketDir, ac.signal);
    const client = new Etcd3({ hosts: clientEndpoint(o.socketDir) });
    try {
      const root = new KV(client);
      const ca = etcdCA(root);
      const cert = await ca.ensure(
        o.nodeId,
        etcdPeerTemplate(o.nodeId, o.extraPeerNames ?? []),
        await importEd25519Public(
          new Uint8Array(await crypto.subtle.exportKey("raw", o.nodeKeys.publicKey)),
        ),
      );
      files = { ca: await ca.certificate(), cert, crl: await ca.crl() };
      await writePeerPki(o, files);
      const { members } = await client.cluster.memberList({});
      await client.cluster.memberUpdate({ ID: members[0].ID, peerURLs: [peerURL(o.nodeId)] });
      if (inside) await inside(root);
    } finally {
      client.close();
    }
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.status;
    await drain.catch(() => {});
  }
  log("etcd bootstrapped; restarting with peer TLS");
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
 */
export async function runEtcd(
  ctx: Context,
  o: EtcdOptions,
  mode: { bootstrap: true } | { join: NodeRoles_ConsensusMember } | { restart: true },
): Promise<void> {
  await Deno.mkdir(o.socketDir, { recursive: true });
  await Deno.remove(clientSocket(o.socketDir)).catch(() => {});
  let peer: Parameters<typeof etcdArgs>[1] = { tls: true };
  if (!(await hasData(o))) {
    if ("bootstrap" in mode) {
      await bootstrapEtcd(o, (l) => ctx.logger.info(l));
    } else if ("join" in mode) {
      peer = { tls: true, initialCluster: await prepareJoin(o, mode.join), state: "existing" };
    } else {
      throw new Error("etcd has no data and no join data: cannot start");
    }
  }
  await runCommand(ctx, etcdArgs(o, peer), {
    cwd: o.socketDir,
    parser: "etcd-json",
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
