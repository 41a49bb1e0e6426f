/**
 * etcd membership for the curator (node.md §11.3, §11.4): new members join as learners with a
 * peer certificate from the etcd CA, removals go through etcd's own quorum-safety check.
 */
import { create } from "@bufbuild/protobuf";
import type { Etcd3 } from "etcd3";
import {
  type NodeRoles_ConsensusMember,
  NodeRoles_ConsensusMemberSchema,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { CA } from "../../base/pki/ca.ts";
import type { PkiStorage } from "../../base/pki/storage.ts";
import { importEd25519Public } from "../../base/pki/keys.ts";
import { ETCD_CA_TEMPLATE, etcdPeerTemplate } from "../identity/profiles.ts";
import type { ConsensusControl, Member } from "../curator/consensus_control.ts";
import type { KV } from "./kv.ts";
import { EtcdPkiStorage } from "./pkistorage.ts";

/** The etcd peer port. */
export const PEER_PORT = 7834;
/** Namespace (from the etcd root) of the etcd PKI. */
export const ETCD_PKI_NAMESPACE = "etcd-pki/";

/** Peer URL of a node: node IDs resolve through /etc/hosts (node.md §11.1). */
export const peerURL = (nodeId: string): string => `https://${nodeId}:${PEER_PORT}`;

/** The etcd CA over the root KV. */
export function etcdCA(rootKV: KV): CA {
  return etcdCAIn(new EtcdPkiStorage(rootKV.namespace(ETCD_PKI_NAMESPACE)));
}

/**
 * The etcd CA over `storage` (the bootstrap creates it in memory before etcd runs, then copies
 * the keys into {@link ETCD_PKI_NAMESPACE}).
 */
export function etcdCAIn(storage: PkiStorage): CA {
  return new CA({ storage, name: "ca", template: ETCD_CA_TEMPLATE });
}

/** Name of a member: its name, or for a learner that never started, the host of its peer URL. */
export function memberNodeId(m: { name?: string; peerURLs?: string[] }): string {
  if (m.name) return m.name;
  const u = m.peerURLs?.[0];
  if (!u) return "";
  try {
    return new URL(u).hostname;
  } catch {
    return "";
  }
}

/** {@link ConsensusControl} over an etcd3 client. */
export class EtcdMembership implements ConsensusControl {
  readonly #client: Etcd3;
  readonly #ca: CA;
  readonly #extraNames: (nodeId: string) => string[];

  /**
   * `extraNames(nodeId)`: additional SANs of a node's peer certificate (namespace mode adds the
   * node address).
   */
  constructor(client: Etcd3, rootKV: KV, extraNames: (nodeId: string) => string[] = () => []) {
    this.#client = client;
    this.#ca = etcdCA(rootKV);
    this.#extraNames = extraNames;
  }

  /** See {@link ConsensusControl.members}. */
  async members(): Promise<Member[]> {
    const r = await this.#client.cluster.memberList({});
    return r.members.map((m) => ({
      id: String(m.ID),
      name: memberNodeId(m),
      peerURLs: m.peerURLs ?? [],
      isLearner: !!m.isLearner,
    }));
  }

  /** See {@link ConsensusControl.addNode}. */
  async addNode(
    nodeId: string,
    publicKey: Uint8Array,
    address?: string,
  ): Promise<NodeRoles_ConsensusMember> {
    const extra = [...this.#extraNames(nodeId), ...(address ? [address] : [])];
    const peerCert = await this.#ca.ensure(
      nodeId,
      etcdPeerTemplate(nodeId, extra),
      await importEd25519Public(publicKey),
    );
    const members = await this.members();
    if (!members.some((m) => m.name === nodeId)) {
      await this.#client.cluster.memberAdd({ peerURLs: [peerURL(nodeId)], isLearner: true });
    }
    const full = (await this.members()).filter((m) => !m.isLearner && m.name !== nodeId);
    return create(NodeRoles_ConsensusMemberSchema, {
      caCertificate: await this.#ca.certificate(),
      peerCertificate: peerCert,
      initialCrl: await this.#ca.crl(),
      peers: full.map((m) => ({ name: m.name, url: m.peerURLs[0] ?? peerURL(m.name) })),
    });
  }

  /** See {@link ConsensusControl.removeNode}. */
  async removeNode(nodeId: string): Promise<void> {
    const m = (await this.members()).find((m) => m.name === nodeId);
    if (!m) return;
    await this.#client.cluster.memberRemove({ ID: m.id });
  }

  /**
   * Hands raft leadership to member `id` (etcd MoveLeader); only the raft leader can, so the client
   * must talk to it (the local member, which is).
   */
  async moveRaftLeader(id: string): Promise<void> {
    await this.#client.maintenance.moveLeader({ targetID: id });
  }

  /** Promotes every learner (called every 5 s on the raft leader; failures are expected). */
  async promoteLearners(): Promise<string[]> {
    const promoted: string[] = [];
    for (const m of await this.members()) {
      if (!m.isLearner) continue;
      try {
        await this.#client.cluster.memberPromote({ ID: m.id });
        promoted.push(m.name);
      } catch { /* still catching up */ }
    }
    return promoted;
  }
}
