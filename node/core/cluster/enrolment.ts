/**
 * The cluster manager (node.md §7, DN `root.enrolment`): decides between join, bootstrap and
 * register once per boot, and ends with the node holding its credentials.
 */
import { isIP } from "node:net";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { type NodeParameters } from "../../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import {
  type ClusterDirectory,
  ClusterDirectorySchema,
  NodeRoles_ConsensusMemberSchema,
  NodeRolesSchema,
  NodeStorageSecurity,
  NodeTPMUsage,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import {
  type SealedConfiguration,
  SealedConfigurationSchema,
} from "../../../proto/gen/metropolis/proto/private/private_pb.ts";
import { Curator } from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { makeClient } from "../../../proto/grpc.ts";
import type { LeveledLogger } from "../../base/logtree/logger.ts";
import {
  ed25519FromSeed,
  ed25519Seed,
  generateEd25519,
  rawPublicKey,
} from "../../base/pki/keys.ts";
import { parseCertificate } from "../../base/pki/info.ts";
import { nodeId } from "../identity/nodeid.ts";
import {
  recommendedStorageSecurity,
  storageSecurityAllowed,
  tpmUsageFor,
} from "../curator/policy.ts";
import { connectionParams } from "../rpc/client.ts";
import { LeaderResolver } from "../rpc/resolver.ts";
import type { Tpm } from "../../base/tpm/mod.ts";
import { enrolmentPath } from "./path.ts";
import { openSealedConfiguration, sealConfiguration } from "./sealed.ts";
import {
  readClusterDirectory,
  readSealedConfigurationFile,
  writeClusterDirectory,
  writeSealedConfigurationFile,
} from "../localstorage/esp.ts";
import {
  type NodeCredentials,
  readCredentials,
  writeCredentials,
  writeRoles,
} from "../localstorage/credentials.ts";
import { DATA_PATHS, EPHEMERAL_PATHS } from "../localstorage/paths.ts";
import type { DataKey, DataStorage } from "../platform/platform.ts";

/** The outcome of enrolment. */
export interface Enrolled {
  how: "bootstrap" | "register" | "join";
  nodeId: string;
  credentials: NodeCredentials;
  directory: ClusterDirectory;
  storageSecurity: NodeStorageSecurity;
}

/** What the platform offers enrolment. */
export interface EnrolmentPlatform {
  /** The node's TPM (node.md §3), undefined when it has none. */
  tpm?: Tpm;
  /** Storage security levels the platform can provide (namespace: INSECURE only). */
  storage: NodeStorageSecurity[];
  /** `/data` (node.md §8.3): MountNew on bootstrap/register, MountExisting on join. */
  data: DataStorage;
  /** Node address as seen by other nodes, for the etcd peer certificate (namespace mode). */
  address?: () => string | undefined;
}

/** An error that retrying cannot fix. */
export class PermanentEnrolmentError extends Error {}

/**
 * CommitNode retries while the node waits for approval: quick at first (an automated owner such
 * as the launcher approves within a fraction of a second of the registration), doubling up to
 * once a second for an owner who approves by hand.
 */
export const COMMIT_RETRY = { initialMs: 100, maxMs: 1000 } as const;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });

function chooseStorage(
  policy: Parameters<typeof recommendedStorageSecurity>[0],
  available: NodeStorageSecurity[],
): NodeStorageSecurity {
  const rec = recommendedStorageSecurity(policy);
  if (available.includes(rec)) return rec;
  const ok = available.find((s) => storageSecurityAllowed(policy, s));
  if (ok === undefined) {
    throw new PermanentEnrolmentError(
      `storage security required by the cluster (${
        NodeStorageSecurity[rec]
      }) is not available on this platform`,
    );
  }
  return ok;
}

/** Runs the decision tree of §7.1 and the matching flow. */
export async function enrol(
  log: LeveledLogger,
  params: NodeParameters | undefined,
  platform: EnrolmentPlatform,
  signal: AbortSignal,
): Promise<Enrolled> {
  let sealedFile;
  try {
    sealedFile = await readSealedConfigurationFile();
  } catch (e) {
    throw new PermanentEnrolmentError(
      `sealed configuration present but unusable: ${(e as Error).message}`,
    );
  }
  let opened;
  if (sealedFile) {
    try {
      opened = await openSealedConfiguration(sealedFile, platform.tpm);
    } catch (e) {
      throw new PermanentEnrolmentError(
        `sealed configuration present but unusable: ${(e as Error).message}`,
      );
    }
    if (opened.fromTpm) log.info(`sealed configuration unsealed with the TPM`);
  }
  const path = enrolmentPath({
    sealedClusterCa: opened?.config.clusterCa,
    params: params?.cluster.case,
  });
  switch (path.flow) {
    case "join":
      return await join(log, opened!.config, opened!.fromTpm, platform, signal);
    case "bootstrap":
      if (path.again) {
        log.warning(
          "a bootstrap of this node did not finish (sealed configuration without cluster CA): " +
            "starting it again from the beginning",
        );
      }
      return await bootstrap(log, params!, platform);
    case "register":
      return await register(log, params!, platform, signal);
    case "refuse":
      // Without parameters a later boot may still get them; a broken-off bootstrap stays broken.
      if (opened) throw new PermanentEnrolmentError(path.reason);
      throw new Error(path.reason);
  }
}

/** The data key of §8.3: NUK ⊕ CUK, empty with INSECURE storage (the key protects nothing). */
export function dataKey(security: NodeStorageSecurity, nuk: Uint8Array, cuk: Uint8Array): DataKey {
  if (security === NodeStorageSecurity.INSECURE) return { security, key: new Uint8Array() };
  if (nuk.length !== 32 || cuk.length !== 32) {
    throw new PermanentEnrolmentError(
      `unlock keys must be 32 bytes (NUK ${nuk.length}, CUK ${cuk.length})`,
    );
  }
  return { security, key: nuk.map((b, i) => b ^ cuk[i]) };
}

/**
 * MountNew / MountExisting of the platform's data storage (§8.3). A failure is permanent: a
 * retry cannot create a device-mapper the platform lacks, and a wrong key must never lead to a
 * reformat.
 */
async function mountData(
  what: "MountNew" | "MountExisting",
  platform: EnrolmentPlatform,
  key: DataKey,
  log: LeveledLogger,
): Promise<void> {
  const info = (l: string) => log.info(l);
  try {
    await (what === "MountNew"
      ? platform.data.mountNew(key, info)
      : platform.data.mountExisting(key, info));
  } catch (e) {
    throw new PermanentEnrolmentError(`${what} of /data failed: ${(e as Error).message}`);
  }
}

/** Writes the sealed configuration, TPM-sealed when `tpm` is given (the node uses its TPM). */
async function sealAndWrite(s: SealedConfiguration, tpm: Tpm | undefined): Promise<void> {
  await writeSealedConfigurationFile(await sealConfiguration(s, tpm));
}

/** 32 random bytes: WebCrypto, XORed with TPM GetRandom when the TPM is used (§7.2). */
async function unlockKey(tpm: Tpm | undefined): Promise<Uint8Array> {
  const k = crypto.getRandomValues(new Uint8Array(32));
  if (tpm) {
    const t = await tpm.getRandom(32);
    for (let i = 0; i < 32; i++) k[i] ^= t[i];
  }
  return k;
}

/** The TPM when `usage` says the node uses it; a usage the node cannot honour is permanent. */
function usedTpm(usage: NodeTPMUsage, platform: EnrolmentPlatform): Tpm | undefined {
  if (usage !== NodeTPMUsage.NODE_TPM_USAGE_PRESENT_AND_USED) return undefined;
  if (!platform.tpm) throw new PermanentEnrolmentError("TPM required but not available");
  return platform.tpm;
}

async function bootstrap(
  log: LeveledLogger,
  params: NodeParameters,
  platform: EnrolmentPlatform,
): Promise<Enrolled> {
  if (params.cluster.case !== "clusterBootstrap") throw new Error("unreachable");
  const b = params.cluster.value;
  // Loaded only here: etcd3, the curator's storage and CEL are large, and a node that registers
  // or joins never needs them unless it becomes a ConsensusMember (agent RSS, testing.md §5).
  const [{ bootstrapCluster }, { initialClusterConfiguration }, { bootstrapEtcd }, { etcdCA }] =
    await Promise.all([
      import("../curator/bootstrap.ts"),
      import("../curator/config.ts"),
      import("../consensus/etcd.ts"),
      import("../consensus/membership.ts"),
    ]);
  if (b.ownerPublicKey.length !== 32) {
    throw new PermanentEnrolmentError(
      `cluster_bootstrap.owner_public_key must be 32 bytes, got ${b.ownerPublicKey.length}`,
    );
  }
  let config;
  try {
    config = initialClusterConfiguration(b.initialClusterConfiguration);
  } catch (e) {
    throw new PermanentEnrolmentError(
      `cluster_bootstrap.initial_cluster_configuration: ${(e as Error).message}`,
    );
  }
  let tpmUsage: NodeTPMUsage;
  try {
    tpmUsage = tpmUsageFor(config.tpmMode, platform.tpm !== undefined);
  } catch (e) {
    throw new PermanentEnrolmentError((e as Error).message);
  }
  const tpm = usedTpm(tpmUsage, platform);
  const storageSecurity = chooseStorage(config.storageSecurityPolicy, platform.storage);
  log.info(
    `bootstrapping a new cluster (storage ${NodeStorageSecurity[storageSecurity]}, TPM ${
      NodeTPMUsage[tpmUsage]
    })`,
  );
  const nuk = await unlockKey(tpm);
  const cuk = await unlockKey(tpm);
  await mountData("MountNew", platform, dataKey(storageSecurity, nuk, cuk), log);
  const nodeKeys = await generateEd25519();
  const joinKeys = await generateEd25519();
  const pub = await rawPublicKey(nodeKeys.publicKey);
  const id = nodeId(pub);
  const directory = create(ClusterDirectorySchema, {
    nodes: [{ id, addresses: [{ host: "127.0.0.1" }] }],
  });
  await writeClusterDirectory(directory);
  const sealed = create(SealedConfigurationSchema, {
    nodeUnlockKey: nuk,
    joinKey: await joinKeyBytes(joinKeys),
    storageSecurity,
  });
  await sealAndWrite(sealed, tpm);
  let certs!: { caCertificate: Uint8Array; nodeCertificate: Uint8Array };
  let consensusMember!: MessageInitShape<typeof NodeRoles_ConsensusMemberSchema>;
  const addr = platform.address?.();
  await bootstrapEtcd(
    {
      nodeId: id,
      nodeKeys,
      dataDir: DATA_PATHS.etcd,
      socketDir: EPHEMERAL_PATHS.consensus,
      extraPeerNames: addr ? [addr] : [],
    },
    (l) => log.info(l),
    async (root) => {
      const ca = etcdCA(root);
      const peer = (await ca.issued(id))!;
      consensusMember = {
        caCertificate: await ca.certificate(),
        peerCertificate: peer,
        initialCrl: await ca.crl(),
        peers: [],
      };
      certs = await bootstrapCluster(root, {
        publicKey: pub,
        joinKey: await rawPublicKey(joinKeys.publicKey),
        clusterUnlockKey: storageSecurity === NodeStorageSecurity.INSECURE ? new Uint8Array() : cuk,
        tpmUsage,
        ownerPublicKey: b.ownerPublicKey,
        configuration: config,
        labels: b.labels?.pairs ?? [],
        consensusMember: create(NodeRoles_ConsensusMemberSchema, consensusMember),
      });
    },
  );
  const credentials = {
    caCertificate: certs.caCertificate,
    certificate: certs.nodeCertificate,
    keys: nodeKeys,
  };
  await writeCredentials(credentials);
  // The bootstrap node's roles are known locally: etcd can start before any curator answers.
  await writeRoles(create(NodeRolesSchema, {
    consensusMember: create(NodeRoles_ConsensusMemberSchema, consensusMember),
    kubernetesController: {},
  }));
  await sealAndWrite(
    create(SealedConfigurationSchema, { ...sealed, clusterCa: certs.caCertificate }),
    tpm,
  );
  log.info("Cluster enrolment done.");
  return { how: "bootstrap", nodeId: id, credentials, directory, storageSecurity };
}

async function joinKeyBytes(k: CryptoKeyPair): Promise<Uint8Array> {
  const seed = await ed25519Seed(k.privateKey);
  const pub = await rawPublicKey(k.publicKey);
  const out = new Uint8Array(64);
  out.set(seed, 0);
  out.set(pub, 32);
  return out;
}

function seedsOf(d: ClusterDirectory): string[] {
  return d.nodes.flatMap((n) => n.addresses.map((a) => a.host)).filter((h) => h);
}

async function register(
  log: LeveledLogger,
  params: NodeParameters,
  platform: EnrolmentPlatform,
  signal: AbortSignal,
): Promise<Enrolled> {
  if (params.cluster.case !== "clusterRegister") throw new Error("unreachable");
  const r = params.cluster.value;
  if (!r.registerTicket.length) {
    throw new PermanentEnrolmentError("cluster_register.register_ticket is empty");
  }
  const directory = r.clusterDirectory;
  if (!directory || !directory.nodes.length) {
    throw new PermanentEnrolmentError("cluster_register.cluster_directory has no nodes");
  }
  for (const h of seedsOf(directory)) {
    if (!isIP(h)) {
      throw new PermanentEnrolmentError(
        `cluster_register.cluster_directory: host "${h}" is not an IP address`,
      );
    }
  }
  try {
    const ca = parseCertificate(r.caCertificate);
    if (ca.keyAlgorithm !== "Ed25519" || !ca.isCA) throw new Error("not an Ed25519 CA");
  } catch (e) {
    throw new PermanentEnrolmentError(`cluster_register.ca_certificate: ${(e as Error).message}`);
  }
  const nodeKeys = await generateEd25519();
  const joinKeys = await generateEd25519();
  const id = nodeId(await rawPublicKey(nodeKeys.publicKey));
  log.info(`registering into the cluster as ${id}`);
  const resolver = new LeaderResolver({
    seeds: seedsOf(directory),
    ca: r.caCertificate,
    log: (l) => log.info(`resolver: ${l}`),
  });
  resolver.start();
  try {
    const curator = async () => {
      const leader = await resolver.leader(signal);
      const p = await connectionParams(leader.address, {
        ca: r.caCertificate,
        nodeId: leader.nodeId,
        identity: { ephemeral: nodeKeys },
      });
      return makeClient(Curator, p.address, p.credentials, p.options as grpc.ClientOptions);
    };
    let reg;
    for (let attempt = 0;; attempt++) {
      const c = await curator();
      try {
        reg = await c.registerNode({
          registerTicket: r.registerTicket,
          joinKey: await rawPublicKey(joinKeys.publicKey),
          haveLocalTpm: platform.tpm !== undefined,
          labels: r.labels,
        }, { deadline: Date.now() + 10_000 });
        break;
      } catch (e) {
        const code = (e as { code?: number }).code;
        if (code === grpc.status.PERMISSION_DENIED || code === grpc.status.FAILED_PRECONDITION) {
          throw new PermanentEnrolmentError(`RegisterNode refused: ${(e as Error).message}`);
        }
        log.warning(`RegisterNode failed (attempt ${attempt + 1}): ${(e as Error).message}`);
        await sleep(1000, signal);
      } finally {
        c.close();
      }
    }
    if (!reg.clusterConfiguration) {
      // The curator answers a node that is already NEW with an empty response (§12): an earlier
      // attempt of ours registered, but its answer (configuration, TPM usage) was lost. Without
      // them this identity cannot continue; enrolment starts over with a new one (the owner can
      // delete the stale NEW record).
      throw new Error(
        `RegisterNode answered empty: ${id} was registered by an earlier attempt whose answer ` +
          "was lost; registering again with a new identity",
      );
    }
    const storageSecurity = chooseStorage(
      reg.clusterConfiguration.storageSecurityPolicy,
      platform.storage,
    );
    const tpm = usedTpm(reg.tpmUsage, platform);
    log.info(`registered; TPM ${NodeTPMUsage[reg.tpmUsage]}`);
    const cuk = await unlockKey(tpm);
    const nuk = await unlockKey(tpm);
    await mountData("MountNew", platform, dataKey(storageSecurity, nuk, cuk), log);
    let lastWaitLog = 0;
    let committed;
    let commitDelay: number = COMMIT_RETRY.initialMs;
    // One connection while the leader answers "not approved yet"; any other error dials again
    // (the leader may have moved).
    let c: Awaited<ReturnType<typeof curator>> | undefined;
    try {
      for (;;) {
        c ??= await curator();
        try {
          committed = await c.commitNode({
            clusterUnlockKey: storageSecurity === NodeStorageSecurity.INSECURE
              ? new Uint8Array()
              : cuk,
            storageSecurity,
          }, { deadline: Date.now() + 10_000 });
          break;
        } catch (e) {
          const code = (e as { code?: number }).code;
          if (code === grpc.status.PERMISSION_DENIED) {
            if (Date.now() - lastWaitLog > 60_000) {
              log.info("waiting for approval of this node by the cluster owner");
              lastWaitLog = Date.now();
            }
          } else {
            log.warning(`CommitNode failed: ${(e as Error).message}`);
            c.close();
            c = undefined;
          }
          await sleep(commitDelay, signal);
          commitDelay = Math.min(commitDelay * 2, COMMIT_RETRY.maxMs);
        }
      }
    } finally {
      c?.close();
    }
    const credentials = {
      caCertificate: committed.caCertificate,
      certificate: committed.nodeCertificate,
      keys: nodeKeys,
    };
    await writeCredentials(credentials);
    await writeClusterDirectory(directory);
    await sealAndWrite(
      create(SealedConfigurationSchema, {
        nodeUnlockKey: nuk,
        joinKey: await joinKeyBytes(joinKeys),
        clusterCa: committed.caCertificate,
        storageSecurity,
      }),
      tpm,
    );
    log.info("Cluster enrolment done.");
    return { how: "register", nodeId: id, credentials, directory, storageSecurity };
  } finally {
    await resolver.close();
  }
}

async function join(
  log: LeveledLogger,
  sealed: SealedConfiguration,
  usingSealedConfiguration: boolean,
  platform: EnrolmentPlatform,
  signal: AbortSignal,
): Promise<Enrolled> {
  const directory = await readClusterDirectory() ??
    create(ClusterDirectorySchema, { nodes: [] });
  let cuk: Uint8Array = new Uint8Array();
  if (sealed.storageSecurity !== NodeStorageSecurity.INSECURE) {
    // CUK from the cluster (JoinNode) — needed to unlock encrypted storage.
    const joinKeys = await ed25519FromSeed(sealed.joinKey.subarray(0, 32));
    const resolver = new LeaderResolver({ seeds: seedsOf(directory), ca: sealed.clusterCa });
    resolver.start();
    try {
      let delay = 500;
      for (;;) {
        try {
          const leader = await resolver.leader(signal);
          const p = await connectionParams(leader.address, {
            ca: sealed.clusterCa,
            nodeId: leader.nodeId,
            identity: { ephemeral: joinKeys },
          });
          const c = makeClient(Curator, p.address, p.credentials, p.options as grpc.ClientOptions);
          try {
            cuk = (await c.joinNode({ usingSealedConfiguration }, {
              deadline: Date.now() + 10_000,
            })).clusterUnlockKey;
          } finally {
            c.close();
          }
          break;
        } catch (e) {
          const code = (e as { code?: number }).code;
          if (code === grpc.status.FAILED_PRECONDITION || code === grpc.status.NOT_FOUND) {
            throw new PermanentEnrolmentError("node is no longer a member of the cluster");
          }
          log.warning(`JoinNode failed: ${(e as Error).message}`);
          await sleep(delay, signal);
          delay = Math.min(delay * 1.5, 60_000);
        }
      }
    } finally {
      await resolver.close();
    }
  }
  await mountData(
    "MountExisting",
    platform,
    dataKey(sealed.storageSecurity, sealed.nodeUnlockKey, cuk),
    log,
  );
  const credentials = await readCredentials();
  const id = nodeId(await rawPublicKey(credentials.keys.publicKey));
  log.info(`joined the cluster as ${id} from the sealed configuration`);
  return {
    how: "join",
    nodeId: id,
    credentials,
    directory,
    storageSecurity: sealed.storageSecurity,
  };
}
