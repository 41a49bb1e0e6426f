/**
 * Simulated nodes inside the bench process (celbomb.ts): keys and node certificates issued from
 * the bench cluster's CA, their records seeded UP, and the leader's count of HEALTHY ones. The
 * heartbeats bench runs its nodes in client processes instead (heartbeat_worker.ts).
 */
import { Etcd3 } from "etcd3";
import { Management } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import { KV } from "../../node/core/consensus/kv.ts";
import { generateEd25519, rawPublicKey } from "../../node/base/pki/keys.ts";
import { issueCertificate } from "../../node/base/pki/cert.ts";
import { nodeTemplate } from "../../node/core/identity/profiles.ts";
import { nodeId } from "../../node/core/identity/nodeid.ts";
import { progress } from "./report.ts";
import type { BenchServer } from "./server_process.ts";
import { benchRecord, seedRecords } from "./seed.ts";

/** One simulated node: identity, its stream, and the send time of the unanswered heartbeat. */
export interface SimNode {
  id: string;
  keys: CryptoKeyPair;
  certificate: Uint8Array;
  stream?: { write(m: object): boolean; end(): void };
  sentAt?: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** `n` simulated nodes with keys and node certificates issued from the bench cluster's CA. */
export async function makeNodes(srv: BenchServer, n: number): Promise<SimNode[]> {
  const signer = { certificate: srv.ca, privateKey: srv.caKey };
  const out: SimNode[] = [];
  for (let i = 0; i < n; i++) {
    const keys = await generateEd25519();
    const id = nodeId(await rawPublicKey(keys.publicKey));
    out.push({
      id,
      keys,
      certificate: await issueCertificate(nodeTemplate(id), keys.publicKey, signer),
    });
    if ((i + 1) % 1000 === 0) progress(`issued ${i + 1}/${n} node certificates`);
  }
  return out;
}

/** Seeds an UP record for each of `nodes` (their certificates are then accepted). */
export async function seed(srv: BenchServer, nodes: SimNode[]): Promise<void> {
  const etcd = new Etcd3({ hosts: srv.info.etcd });
  try {
    const records = await Promise.all(
      nodes.map(async (s, i) => benchRecord(i, await rawPublicKey(s.keys.publicKey), false)),
    );
    await seedRecords(new KV(etcd, "curator/"), records);
  } finally {
    etcd.close();
  }
}

/** How many of `ids` the leader reports HEALTHY. */
export async function countHealthy(srv: BenchServer, ids: Set<string>): Promise<number> {
  const mgmt = await srv.client(Management, srv.owner);
  let healthy = 0;
  for await (const n of mgmt.getNodes({ filter: "node.health == HEALTH_HEALTHY" })) {
    if (ids.has(n.id)) healthy++;
  }
  return healthy;
}
