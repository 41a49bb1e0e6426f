/**
 * Node enrolment RPCs of `Curator` on the leader (node.md §12.10): RegisterNode, CommitNode,
 * JoinNode. Callers hold no cluster certificate yet; they prove a key with a self-signed one.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type Node as NodeRecord,
  NodeSchema as NodeRecordSchema,
  RegisterTicketSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import {
  type CommitNodeRequest,
  type CommitNodeResponse,
  CommitNodeResponseSchema,
  type JoinNodeRequest,
  type JoinNodeResponse,
  JoinNodeResponseSchema,
  type RegisterNodeRequest,
  type RegisterNodeResponse,
  RegisterNodeResponseSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import {
  NodeLabelsSchema,
  NodeState,
  NodeStorageSecurity,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { importEd25519Public } from "../../base/pki/keys.ts";
import { nodeId } from "../identity/nodeid.ts";
import { nodeTemplate } from "../identity/profiles.ts";
import type { Caller } from "../rpc/auth.ts";
import type { Leader } from "./leader.ts";
import { joinKeyKey, nodeKey, REGISTER_TICKET_KEY } from "./keys.ts";
import { readClusterConfiguration } from "./management.ts";
import {
  failedPrecondition,
  invalid,
  notFound,
  permissionDenied,
  StatusError,
  unauthenticated,
} from "./status.ts";
import {
  joinTpmCheck,
  recommendedStorageSecurity,
  storageSecurityAllowed,
  tpmUsageFor,
} from "./config.ts";
import { sanitizeRegisterLabels } from "./labels.ts";

/** Constant-time comparison of two byte strings (register ticket, §12.9). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

function provenKey(caller: Caller, code: "unauthenticated" | "permission_denied"): Uint8Array {
  if (caller.kind === "unauthenticated" && caller.provenKey) return caller.provenKey;
  const m = "a self-signed client certificate for the node's key is required";
  throw code === "unauthenticated" ? unauthenticated(m) : permissionDenied(m);
}

function asStatus(e: unknown, wrap: (m: string) => StatusError): never {
  if (e instanceof StatusError) throw e;
  throw wrap((e as Error).message);
}

/** The enrolment RPCs of one leadership term. */
export class Enrolment {
  readonly #l: Leader;

  /** Serves on behalf of `leader`. */
  constructor(leader: Leader) {
    this.#l = leader;
  }

  /** RegisterNode: creates a NEW node for the caller's key (idempotent while NEW). */
  async registerNode(req: RegisterNodeRequest, caller: Caller): Promise<RegisterNodeResponse> {
    const pub = provenKey(caller, "unauthenticated");
    if (req.joinKey.length !== 32) {
      throw invalid(`join_key must be 32 bytes, got ${req.joinKey.length}`);
    }
    const te = await this.#l.kv.get(REGISTER_TICKET_KEY);
    const ticket = te ? fromBinary(RegisterTicketSchema, te.value).opaque : undefined;
    if (!ticket || !constantTimeEqual(ticket, req.registerTicket)) {
      throw permissionDenied("invalid register ticket");
    }
    const config = await readClusterConfiguration(this.#l);
    let tpmUsage;
    try {
      tpmUsage = tpmUsageFor(config.tpmMode, req.haveLocalTpm);
    } catch (e) {
      asStatus(e, permissionDenied);
    }
    const id = nodeId(pub);
    const existing = await this.#l.readNode(id);
    if (existing) {
      if (existing.record.fsmState === NodeState.NEW) {
        return create(RegisterNodeResponseSchema, {});
      }
      throw failedPrecondition(`node ${id} is already registered and past NEW`);
    }
    const record: NodeRecord = create(NodeRecordSchema, {
      id,
      publicKey: pub,
      fsmState: NodeState.NEW,
      joinKey: req.joinKey,
      tpmUsage,
      labels: create(NodeLabelsSchema, {
        pairs: sanitizeRegisterLabels(
          (req.labels?.pairs ?? []).map((p) => ({ key: p.key, value: p.value })),
        ),
      }),
    });
    const r = await this.#l.txn(
      [{ key: nodeKey(id), target: "create", op: "==", value: 0n }],
      [
        { put: nodeKey(id), value: toBinary(NodeRecordSchema, record) },
        { put: joinKeyKey(req.joinKey), value: id },
      ],
    );
    if (!r.succeeded) return create(RegisterNodeResponseSchema, {}); // raced with itself
    return create(RegisterNodeResponseSchema, {
      clusterConfiguration: config,
      tpmUsage,
      recommendedNodeStorageSecurity: recommendedStorageSecurity(config.storageSecurityPolicy),
    });
  }

  /** CommitNode: STANDBY → UP, stores the CUK and issues the node certificate. */
  async commitNode(req: CommitNodeRequest, caller: Caller): Promise<CommitNodeResponse> {
    const pub = provenKey(caller, "unauthenticated");
    const ss = req.storageSecurity;
    if (
      ss !== NodeStorageSecurity.INSECURE && ss !== NodeStorageSecurity.ENCRYPTED &&
      ss !== NodeStorageSecurity.AUTHENTICATED_ENCRYPTED
    ) {
      throw invalid(`storage_security ${ss} is not a valid storage security`);
    }
    const config = await readClusterConfiguration(this.#l);
    if (!storageSecurityAllowed(config.storageSecurityPolicy, ss)) {
      throw failedPrecondition("storage security not allowed by the cluster's policy");
    }
    const id = nodeId(pub);
    const cur = await this.#l.readNode(id);
    if (!cur) throw notFound(`node ${id} not found`);
    switch (cur.record.fsmState) {
      case NodeState.NEW:
        throw permissionDenied("node is not approved yet: wait for approval");
      case NodeState.UP:
      case NodeState.DECOMMISSIONED:
        throw failedPrecondition(`node ${id} is already committed`);
    }
    if (ss !== NodeStorageSecurity.INSECURE && req.clusterUnlockKey.length !== 32) {
      throw invalid(`cluster_unlock_key must be 32 bytes, got ${req.clusterUnlockKey.length}`);
    }
    const cert = await this.#l.ca.ensure(id, nodeTemplate(id), await importEd25519Public(pub));
    const done = await this.#l.updateNode(id, (n) => {
      if (n.fsmState !== NodeState.STANDBY) {
        throw failedPrecondition(`node ${id} changed state during commit`);
      }
      n.fsmState = NodeState.UP;
      n.clusterUnlockKey = req.clusterUnlockKey;
      return n;
    });
    if (!done) throw notFound(`node ${id} not found`);
    return create(CommitNodeResponseSchema, {
      caCertificate: await this.#l.ca.certificate(),
      nodeCertificate: cert,
    });
  }

  /** JoinNode: returns the CUK to a node proving its join key. */
  async joinNode(req: JoinNodeRequest, caller: Caller): Promise<JoinNodeResponse> {
    const jk = provenKey(caller, "permission_denied");
    const idx = await this.#l.kv.get(joinKeyKey(jk));
    if (!idx) throw notFound("unknown join key");
    const id = new TextDecoder().decode(idx.value);
    const cur = await this.#l.readNode(id);
    if (!cur) throw notFound(`node ${id} not found`);
    const config = await readClusterConfiguration(this.#l);
    try {
      joinTpmCheck(config.tpmMode, cur.record.tpmUsage, req.usingSealedConfiguration);
    } catch (e) {
      asStatus(e, permissionDenied);
    }
    if (cur.record.fsmState !== NodeState.UP) {
      throw failedPrecondition(`node ${id} is not UP`);
    }
    return create(JoinNodeResponseSchema, { clusterUnlockKey: cur.record.clusterUnlockKey });
  }
}
