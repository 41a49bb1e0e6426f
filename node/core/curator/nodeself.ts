/**
 * Curator RPCs a node calls about itself (node.md §12.10): UpdateNodeStatus, Heartbeat,
 * UpdateNodeClusterNetworking, IssueCertificate; plus GetConsensusStatus.
 */
import { KUBERNETES_NET } from "../constants/ports.ts";
import { isIP } from "node:net";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  type GetConsensusStatusResponse,
  GetConsensusStatusResponse_EtcdMember_Status as MemberStatus,
  GetConsensusStatusResponseSchema,
  type IssueCertificateRequest,
  type IssueCertificateResponse,
  IssueCertificateResponseSchema,
  type UpdateNodeClusterNetworkingRequest,
  type UpdateNodeStatusRequest,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { importEd25519Public } from "../../base/pki/keys.ts";
import type { Caller } from "../rpc/auth.ts";

type NodeCaller = Extract<Caller, { kind: "node" }>;
import type { Leader } from "./leader.ts";
import { kubeIdCA, workerTemplates } from "./kubepki.ts";
import { failedPrecondition, invalid, notFound, permissionDenied } from "./status.ts";

/** The pod network (kubernetes.md §3). */
export const POD_NETWORK = KUBERNETES_NET.clusterCidr;

function requireNode(caller: Caller): NodeCaller {
  if (caller.kind !== "node") throw permissionDenied("only nodes may call this method");
  return caller;
}

/** Parses dotted-quad IPv4; undefined if not one. */
export function parseIPv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1].length > 1 && m[i + 1][0] === "0"))) {
    return undefined;
  }
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

/** Parses a canonical IPv4 CIDR (no host bits set); undefined otherwise. */
export function parseCanonicalCIDR(s: string): { addr: number; bits: number } | undefined {
  const [a, b, ...rest] = s.split("/");
  if (rest.length || b === undefined || !/^\d{1,2}$/.test(b)) return undefined;
  const bits = Number(b);
  const addr = parseIPv4(a);
  if (addr === undefined || bits > 32) return undefined;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  if (((addr & mask) >>> 0) !== addr) return undefined;
  return { addr, bits };
}

function within(inner: { addr: number; bits: number }, outer: { addr: number; bits: number }) {
  if (inner.bits < outer.bits) return false;
  const mask = outer.bits === 0 ? 0 : (0xffffffff << (32 - outer.bits)) >>> 0;
  return ((inner.addr & mask) >>> 0) === outer.addr;
}

/** The node-self RPCs of one leadership term. */
export class NodeSelf {
  readonly #l: Leader;

  /** Serves on behalf of `leader`. */
  constructor(leader: Leader) {
    this.#l = leader;
  }

  /** Stores the caller's status; the server sets the timestamp. */
  async updateNodeStatus(req: UpdateNodeStatusRequest, caller: Caller): Promise<void> {
    const n = requireNode(caller);
    if (req.nodeId !== n.nodeId) {
      throw permissionDenied(`node ${n.nodeId} may not update the status of ${req.nodeId}`);
    }
    if (!req.status) throw invalid("status is required");
    if (!isIP(req.status.externalAddress)) {
      throw invalid(`status.external_address "${req.status.externalAddress}" is not an IP address`);
    }
    const status = { ...req.status, timestamp: timestampNow() };
    const r = await this.#l.updateNode(n.nodeId, (rec) => {
      rec.status = status;
      return rec;
    });
    if (!r) throw notFound(`node ${n.nodeId} not found`);
  }

  /** Records a heartbeat of the caller (one per request message). */
  heartbeat(caller: Caller): void {
    const n = requireNode(caller);
    this.#l.checkLeading();
    this.#l.heartbeats.set(n.nodeId, this.#l.now());
  }

  /** Checks the caller may heartbeat at all (at stream start). */
  checkHeartbeatCaller(caller: Caller): void {
    requireNode(caller);
  }

  /** Publishes the caller's WireGuard key and prefixes. */
  async updateNodeClusterNetworking(
    req: UpdateNodeClusterNetworkingRequest,
    caller: Caller,
  ): Promise<void> {
    const n = requireNode(caller);
    const cn = req.clusternet;
    if (!cn) throw invalid("clusternet is required");
    let key: Uint8Array;
    try {
      key = Uint8Array.from(atob(cn.wireguardPubkey), (c) => c.charCodeAt(0));
    } catch {
      throw invalid("clusternet.wireguard_pubkey is not base64");
    }
    if (key.length !== 32) throw invalid("clusternet.wireguard_pubkey must encode 32 bytes");
    await this.#l.cache.sync();
    for (const [id, c] of this.#l.cache.nodes) {
      if (id !== n.nodeId && c.record.clusternet?.wireguardPubkey === cn.wireguardPubkey) {
        throw invalid("clusternet.wireguard_pubkey is already used by another node");
      }
    }
    const cur = await this.#l.readNode(n.nodeId);
    if (!cur) throw notFound(`node ${n.nodeId} not found`);
    const addr = cur.record.status?.externalAddress;
    if (!addr) throw failedPrecondition("node has never reported its status");
    const pod = parseCanonicalCIDR(POD_NETWORK)!;
    const own = parseCanonicalCIDR(`${addr}/32`);
    for (const p of cn.prefixes) {
      const c = parseCanonicalCIDR(p.cidr);
      if (!c) throw invalid(`prefix "${p.cidr}" is not a canonical IPv4 CIDR`);
      const ok = within(c, pod) || (own && c.bits === 32 && c.addr === own.addr);
      if (!ok) throw invalid(`prefix "${p.cidr}" is neither in ${POD_NETWORK} nor ${addr}/32`);
    }
    await this.#l.updateNode(n.nodeId, (rec) => {
      rec.clusternet = cn;
      return rec;
    });
  }

  /** Issues the Kubernetes worker certificates to a KubernetesWorker node. */
  async issueCertificate(
    req: IssueCertificateRequest,
    caller: Caller,
  ): Promise<IssueCertificateResponse> {
    const n = requireNode(caller);
    // As upstream: the request is checked before the node's roles.
    if (req.kind.case !== "kubernetesWorker") throw invalid("certificate kind must be set");
    const cur = await this.#l.readNode(n.nodeId);
    if (!cur?.record.roles?.kubernetesWorker) {
      throw permissionDenied("only KubernetesWorker nodes may obtain worker certificates");
    }
    const w = req.kind.value;
    for (
      const [name, k] of [
        ["kubelet_pubkey", w.kubeletPubkey],
        ["csi_provisioner_pubkey", w.csiProvisionerPubkey],
        ["netservices_pubkey", w.netservicesPubkey],
      ] as const
    ) {
      if (k.length !== 32) throw invalid(`${name} must be 32 bytes, got ${k.length}`);
    }
    const ca = kubeIdCA(this.#l.rootKV);
    const t = workerTemplates(n.nodeId);
    const kubelet = await importEd25519Public(w.kubeletPubkey);
    const id = n.nodeId;
    return create(IssueCertificateResponseSchema, {
      kind: {
        case: "kubernetesWorker",
        value: {
          identityCaCertificate: await ca.certificate(),
          kubeletServerCertificate: await ca.ensure(
            `kubelet-server-${id}`,
            t.kubeletServer,
            kubelet,
          ),
          kubeletClientCertificate: await ca.ensure(
            `kubelet-client-${id}`,
            t.kubeletClient,
            kubelet,
          ),
          csiProvisionerCertificate: await ca.ensure(
            `csi-provisioner-${id}`,
            t.csiProvisioner,
            await importEd25519Public(w.csiProvisionerPubkey),
          ),
          netservicesCertificate: await ca.ensure(
            `netservices-${id}`,
            t.netservices,
            await importEd25519Public(w.netservicesPubkey),
          ),
        },
      },
    });
  }

  /** One EtcdMember per etcd member, named by node ID. */
  async getConsensusStatus(): Promise<GetConsensusStatusResponse> {
    const members = await this.#l.consensus.members();
    return create(GetConsensusStatusResponseSchema, {
      etcdMember: members.map((m) => ({
        id: m.name || m.peerURLs[0]?.replace(/^https?:\/\//, "").replace(/:\d+$/, "") || m.id,
        status: m.isLearner ? MemberStatus.LEARNER : MemberStatus.FULL,
      })),
    });
  }
}
