/**
 * A real curator for tests: real etcd (unix sockets), bootstrap state, the gRPC server with TLS
 * on 127.0.0.1, and helpers to dial it as the owner, as a node, or with an ephemeral key.
 */
import type * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import {
  ClusterConfigurationSchema,
  NodeTPMUsage,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import {
  ClusterConfiguration_StorageSecurityPolicy as Policy,
  ClusterConfiguration_TPMMode as TPMMode,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { AAA } from "../../../proto/gen/metropolis/proto/api/aaa_pb.ts";
import { makeClient, type ServiceClient } from "../../../proto/grpc.ts";
import { generateEd25519, rawPublicKey } from "../../base/pki/keys.ts";
import { nodeId } from "../identity/nodeid.ts";
import { connectionParams, type DialOptions } from "../rpc/client.ts";
import { EtcdMembership } from "../consensus/membership.ts";
import { startTestEtcd, type TestEtcd } from "../consensus/testing.ts";
import { bootstrapCluster } from "./bootstrap.ts";
import { CuratorServer } from "./server.ts";

/** A running test curator. */
export interface TestCurator {
  etcd: TestEtcd;
  server: CuratorServer;
  /** `127.0.0.1:<port>`. */
  target: string;
  nodeId: string;
  nodeKeys: CryptoKeyPair;
  nodeCertificate: Uint8Array;
  caCertificate: Uint8Array;
  ownerKeys: CryptoKeyPair;
  /** Typed client for `service` with the given identity (default: none), verifying the CA. */
  client<S extends GenServiceMethods>(
    service: GenService<S>,
    identity?: DialOptions["identity"],
    extra?: Partial<DialOptions>,
  ): Promise<ServiceClient<S>>;
  /** Escrows and returns the owner certificate. */
  ownerCertificate(): Promise<Uint8Array>;
  /** Stops the curator (a leader resigns, as on an agent's shutdown); etcd keeps running. */
  stopCurator(): Promise<void>;
  stop(): Promise<void>;
}

/** Options for {@link startTestCurator}. */
export interface TestCuratorOptions {
  tpmMode?: TPMMode;
  storagePolicy?: Policy;
  leaseTtl?: number;
  /** Reuse an etcd (e.g. for a second curator). */
  etcd?: TestEtcd;
  /** Skip bootstrap (second curator on an existing cluster). */
  noBootstrap?: boolean;
  nodeKeys?: CryptoKeyPair;
}

/** Starts etcd, bootstraps a cluster and serves the curator. */
export async function startTestCurator(o: TestCuratorOptions = {}): Promise<TestCurator> {
  const nodeKeys = o.nodeKeys ?? await generateEd25519();
  const pub = await rawPublicKey(nodeKeys.publicKey);
  const id = nodeId(pub);
  // The etcd member is named by node ID, as on a real ConsensusMember.
  const etcd = o.etcd ?? await startTestEtcd({ name: id });
  const ownerKeys = await generateEd25519();
  const joinKeys = await generateEd25519();
  const membership = new EtcdMembership(etcd.client, etcd.kv);
  let caCertificate: Uint8Array, nodeCertificate: Uint8Array;
  if (!o.noBootstrap) {
    ({ caCertificate, nodeCertificate } = await bootstrapCluster(etcd.kv, {
      publicKey: pub,
      joinKey: await rawPublicKey(joinKeys.publicKey),
      clusterUnlockKey: new Uint8Array(32).fill(7),
      tpmUsage: NodeTPMUsage.NODE_TPM_USAGE_NOT_PRESENT,
      ownerPublicKey: await rawPublicKey(ownerKeys.publicKey),
      configuration: create(ClusterConfigurationSchema, {
        clusterDomain: "cluster.test",
        tpmMode: o.tpmMode ?? TPMMode.TPM_MODE_DISABLED,
        storageSecurityPolicy: o.storagePolicy ?? Policy.PERMISSIVE,
      }),
      labels: [],
      consensusMember: await membership.addNode(id, pub),
    }));
  } else {
    const { clusterCA } = await import("./bootstrap.ts");
    const { nodeTemplate } = await import("../identity/profiles.ts");
    const ca = clusterCA(etcd.kv);
    caCertificate = await ca.certificate();
    nodeCertificate = await ca.ensure(id, nodeTemplate(id), nodeKeys.publicKey);
  }
  const server = new CuratorServer({
    kv: etcd.kv,
    nodeId: id,
    certificate: nodeCertificate,
    privateKey: nodeKeys.privateKey,
    consensus: membership,
    externalAddress: () => "127.0.0.1",
    port: 0,
    host: "127.0.0.1",
    leaseTtl: o.leaseTtl ?? 2,
  });
  const ac = new AbortController();
  const running = server.run(ac.signal);
  const port = await server.listening;
  const target = `127.0.0.1:${port}`;
  const clients: { close(): void }[] = [];
  const t: TestCurator = {
    etcd,
    server,
    target,
    nodeId: id,
    nodeKeys,
    nodeCertificate,
    caCertificate,
    ownerKeys,
    async client(service, identity, extra) {
      const p = await connectionParams(target, {
        ca: caCertificate,
        nodeId: id,
        identity,
        ...extra,
      });
      const c = makeClient(service, p.address, p.credentials, p.options as grpc.ClientOptions);
      clients.push(c);
      return c;
    },
    async ownerCertificate() {
      const aaa = await t.client(AAA, { ephemeral: ownerKeys });
      const stream = aaa.escrow();
      stream.write({
        parameters: {
          requestedIdentityName: "owner",
          publicKey: await rawPublicKey(ownerKeys.publicKey),
        },
      });
      for await (const r of stream) {
        if (r.emittedCertificate.length) {
          stream.end();
          return r.emittedCertificate;
        }
      }
      throw new Error("escrow returned no certificate");
    },
    async stopCurator() {
      for (const c of clients) c.close();
      ac.abort();
      await running.catch(() => {});
    },
    async stop() {
      await t.stopCurator();
      if (!o.etcd) await etcd.stop();
    },
  };
  // Wait until this curator leads (single candidate: immediate).
  const deadline = Date.now() + 10_000;
  while (!server.isLeader && !o.noBootstrap) {
    if (Date.now() > deadline) throw new Error("test curator did not become leader");
    await new Promise((r) => setTimeout(r, 20));
  }
  return t;
}

/** The CEL list literal `[0, 1, …, n-1]`. */
export function celList(n: number): string {
  return `[${Array.from({ length: n }, (_, i) => i).join(",")}]`;
}

/**
 * The GetNodes filter that froze a leader (issue #12): three nested comprehensions over `n`-item
 * list literals, n³ iterations (100: ≈ 7 s, 200: ≈ 51 s before cost limits).
 */
export function celBomb(n: number): string {
  const body = "true||x0==x1||x1==x2||x0+x1==x2||x0*x1==x2";
  return `${celList(n)}.all(x0,${celList(n)}.all(x1,${celList(n)}.all(x2,${body})))`;
}

/** Passes the static estimate (indexing hides the list's size) but overruns one node's budget. */
export const CEL_HIDDEN_COST = `[${celList(3000)}][0].all(x, x >= 0 && x + 1 >= 0 && x + 2 >= 0)`;

/** Close to the per-node cost limit (≈ 20,000 units, several ms per node) but allowed. */
export const CEL_COSTLY = `${celList(30)}.all(x, ${
  celList(30)
}.all(y, x + y >= 0 && x * y >= 0 || x - y == 3))`;
