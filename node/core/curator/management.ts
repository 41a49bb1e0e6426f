/**
 * `metropolis.proto.api.Management` on the leader (node.md §12.10, §12.12). Each method takes
 * the decoded request and returns the response (GetNodes: the list of nodes to stream); errors
 * are StatusErrors. Authorization happened before (permissions of §10.3).
 */
import { roleNames } from "../constants/roles.ts";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { setImmediate } from "node:timers";
import type { Buffer } from "node:buffer";
import { FrameBatches } from "../rpc/framed.ts";
import {
  type Node as NodeRecord,
  RegisterTicketSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import {
  type ApproveNodeRequest,
  type ConfigureClusterRequest,
  type ConfigureClusterResponse,
  ConfigureClusterResponseSchema,
  type DecommissionNodeRequest,
  type DeleteNodeRequest,
  type GetClusterInfoResponse,
  GetClusterInfoResponseSchema,
  type GetNodesRequest,
  type GetRegisterTicketResponse,
  GetRegisterTicketResponseSchema,
  type Node as ApiNode,
  type UpdateNodeLabelsRequest,
  type UpdateNodeRolesRequest,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import {
  type ClusterConfiguration,
  ClusterConfigurationSchema,
  NodeLabelsSchema,
  NodeRolesSchema,
  NodeState,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import {
  type CachedApiNode,
  cachedApiNode,
  clusterDirectory,
  encodedLengthWithHealth,
  encodeWithHealthInto,
  type HealthFields,
  healthFields,
  nodeWithHealth,
} from "./view.ts";
import type { Leader } from "./leader.ts";
import { CLUSTER_CONFIGURATION_KEY, joinKeyKey, nodeKey, REGISTER_TICKET_KEY } from "./keys.ts";
import { selectedNodeId } from "./select.ts";
import {
  failedPrecondition,
  invalid,
  notFound,
  outOfRange,
  resourceExhausted,
  StatusError,
  unavailable,
} from "./status.ts";
import { compileNodeFilter, FilterBudgetError, FilterError } from "./cel.ts";
import { applyLabelUpdate, LabelError } from "./labels.ts";
import {
  applyConfigureCluster,
  ConfigError,
  defaultClusterConfiguration,
  withStoredDefaults,
} from "./config.ts";

const STATE_NAMES: Record<number, string> = {
  [NodeState.NEW]: "NEW",
  [NodeState.STANDBY]: "STANDBY",
  [NodeState.UP]: "UP",
  [NodeState.DECOMMISSIONED]: "DECOMMISSIONED",
};

/**
 * Whether a GetNodes filter can observe the per-call health fields. Otherwise it is evaluated on
 * the cached base Node, which differs from the full one only in `health` and
 * `time_since_heartbeat`. Conservative: any mention of "health" or "heartbeat" (even inside a
 * string), or `node` used other than as `node.<field>` (e.g. compared as a whole), counts.
 */
export function filterSeesHealth(expr: string): boolean {
  return /health|heartbeat/i.test(expr) || /\bnode\b(?!\s*\.)/.test(expr);
}

/**
 * Longest run of filter work in GetNodes (compilation, or evaluation of nodes) before it lets
 * other work run; one node's evaluation is bounded by the filter's per-node budget.
 */
const EVAL_SLICE_MS = 5;
/**
 * Time between the end of one slice and the start of the next, of any call: filter work takes
 * at most about half of the thread, and the I/O of heartbeats and lease renewals, which needs
 * several event-loop iterations per message, runs in the gaps.
 */
const EVAL_GAP_MS = 1;

/** The slices of all GetNodes calls: waiting calls (first come first served), last slice end. */
const turns = { waiting: [] as (() => void)[], pumping: false, lastEnd: 0 };

/**
 * Ends the caller's slice, if it had one, and resolves when it may run the next one (see
 * {@link EVAL_SLICE_MS}, {@link EVAL_GAP_MS}): however many calls are under way, filter work
 * holds the thread for one slice at a time.
 */
function evaluationTurn(): Promise<void> {
  endSlice();
  const turn = new Promise<void>((resolve) => turns.waiting.push(resolve));
  if (!turns.pumping) {
    turns.pumping = true;
    setImmediate(nextTurn);
  }
  return turn;
}

/** Marks the end of the caller's slice (also when its call ends without another turn). */
function endSlice(): void {
  turns.lastEnd = performance.now();
}

function nextTurn(): void {
  const wait = turns.lastEnd + EVAL_GAP_MS - performance.now();
  if (wait > 0) {
    setTimeout(nextTurn, wait);
    return;
  }
  turns.waiting.shift()?.();
  // From an immediate callback, the next check runs after the released slice.
  if (turns.waiting.length) setImmediate(nextTurn);
  else turns.pumping = false;
}

/** Number of health-independent filters whose per-record results the leader remembers. */
const FILTER_MEMO_SIZE = 8;

/** Reads the stored cluster configuration (defaults when absent). */
export async function readClusterConfiguration(leader: Leader): Promise<ClusterConfiguration> {
  const e = await leader.kv.get(CLUSTER_CONFIGURATION_KEY);
  return e
    ? withStoredDefaults(fromBinary(ClusterConfigurationSchema, e.value))
    : defaultClusterConfiguration();
}

/** The Management service of one leadership term. */
export class Management {
  readonly #l: Leader;
  /** Cached public Node per record (keyed by the record object, replaced on change). */
  readonly #views = new WeakMap<NodeRecord, CachedApiNode>();
  /** Per-filter results (see {@link #memoFor}), least recently used first. */
  readonly #filterMemo = new Map<string, WeakMap<NodeRecord, boolean>>();

  /** Serves on behalf of `leader`. */
  constructor(leader: Leader) {
    this.#l = leader;
  }

  /** §12.9: 32 random bytes created on first use, unchanged afterwards. */
  async getRegisterTicket(): Promise<GetRegisterTicketResponse> {
    const fresh = create(RegisterTicketSchema, {
      opaque: crypto.getRandomValues(new Uint8Array(32)),
    });
    const r = await this.#l.txn(
      [{ key: REGISTER_TICKET_KEY, target: "create", op: "==", value: 0n }],
      [{ put: REGISTER_TICKET_KEY, value: toBinary(RegisterTicketSchema, fresh) }],
      [{ get: REGISTER_TICKET_KEY }],
    );
    const ticket = r.succeeded
      ? fresh.opaque
      : fromBinary(RegisterTicketSchema, r.gets[0]!.value).opaque;
    return create(GetRegisterTicketResponseSchema, { ticket });
  }

  /** Directory of up to 15 UP nodes, CA certificate (DER), configuration. */
  async getClusterInfo(): Promise<GetClusterInfoResponse> {
    await this.#l.cache.sync();
    const records = [...this.#l.cache.nodes.values()].map((c) => c.record);
    return create(GetClusterInfoResponseSchema, {
      clusterDirectory: clusterDirectory(records),
      caCertificate: await this.#l.ca.certificate(),
      clusterConfiguration: await readClusterConfiguration(this.#l),
    });
  }

  /** Nodes passing the CEL filter, sorted by node ID, with health (§12.6, §12.11). */
  async getNodes(req: GetNodesRequest, signal?: AbortSignal): Promise<ApiNode[]> {
    return (await this.#select(req, signal)).map(({ c, h }) => nodeWithHealth(c.base, h));
  }

  /**
   * {@link getNodes} as the response stream's bytes: batches of gRPC-framed
   * `metropolis.proto.api.Node` messages (framed.ts), each byte-identical to `toBinary`. The
   * per-record encoding is cached; only the health fields are encoded per call, straight into the
   * batch.
   */
  async getNodesFramed(req: GetNodesRequest, signal?: AbortSignal): Promise<Buffer[]> {
    const out = new FrameBatches();
    for (const { c, h } of await this.#select(req, signal)) {
      out.add(encodedLengthWithHealth(c, h));
      encodeWithHealthInto(out.buf, out.at, c, h);
    }
    return out.finish();
  }

  /**
   * Results of a filter that cannot see health, per record object: such a result depends on the
   * record alone (CEL is deterministic), and a changed record is a new object. Kept for the
   * {@link FILTER_MEMO_SIZE} most recently used filters (clients poll with the same few).
   */
  #memoFor(expr: string): WeakMap<NodeRecord, boolean> | undefined {
    if (expr.trim() === "") return undefined;
    let m = this.#filterMemo.get(expr);
    if (m) this.#filterMemo.delete(expr);
    else m = new WeakMap();
    this.#filterMemo.set(expr, m);
    if (this.#filterMemo.size > FILTER_MEMO_SIZE) {
      this.#filterMemo.delete(this.#filterMemo.keys().next().value!);
    }
    return m;
  }

  /**
   * The filter runs on the leader's only thread, beside heartbeats and lease renewals: it is
   * compiled and evaluated in turns ({@link evaluationTurn}) and stops with `signal`'s reason
   * once the call is cancelled or past its deadline. Errors: a bad or statically too expensive
   * filter → INVALID_ARGUMENT, a spent evaluation budget → RESOURCE_EXHAUSTED (cel.ts).
   */
  async #select(
    req: GetNodesRequest,
    signal?: AbortSignal,
  ): Promise<{ c: CachedApiNode; h: HealthFields }[]> {
    try {
      await evaluationTurn();
      signal?.throwIfAborted();
      let filter;
      try {
        filter = compileNodeFilter(req.filter);
      } catch (e) {
        if (e instanceof FilterError) throw invalid(`filter: ${e.message}`);
        throw e;
      }
      const withHealthFields = filterSeesHealth(req.filter);
      const memo = withHealthFields ? undefined : this.#memoFor(req.filter);
      await this.#l.cache.sync();
      signal?.throwIfAborted();
      const now = this.#l.now();
      // Records of one cache revision: the cache may move on while this call yields.
      const ids = this.#l.cache.sortedIds();
      const recs = ids.map((id) => this.#l.cache.nodes.get(id)!.record);
      const out: { c: CachedApiNode; h: HealthFields }[] = [];
      // The empty filter accepts every node without evaluating anything.
      const everything = req.filter.trim() === "" ? true : undefined;
      let slice = performance.now();
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        const rec = recs[i];
        let c = this.#views.get(rec);
        if (!c) {
          c = cachedApiNode(rec);
          this.#views.set(rec, c);
        }
        const hb = this.#l.heartbeats.get(id);
        const h = withHealthFields ? healthFields(c.base.state, hb, this.#l.since, now) : undefined;
        let checkClock = (i & 31) === 31;
        try {
          let pass = everything || memo?.get(rec);
          if (pass === undefined) {
            pass = filter(h ? nodeWithHealth(c.base, h) : c.base);
            memo?.set(rec, pass);
            // One evaluation may take up to the filter's per-node budget.
            checkClock = true;
          }
          if (pass) out.push({ c, h: h ?? healthFields(c.base.state, hb, this.#l.since, now) });
        } catch (e) {
          if (e instanceof FilterError) throw invalid(`filter: ${e.message}`);
          if (e instanceof FilterBudgetError) {
            throw resourceExhausted(`filter: ${e.message} (at node ${i + 1} of ${ids.length})`);
          }
          throw e;
        }
        // The clock is read after every evaluation of the filter, otherwise every 32 nodes: read
        // per node, it cost as much as encoding the node.
        if (checkClock && performance.now() - slice >= EVAL_SLICE_MS) {
          await evaluationTurn();
          signal?.throwIfAborted();
          slice = performance.now();
        }
      }
      return out;
    } finally {
      endSlice();
    }
  }

  /** NEW → STANDBY; STANDBY/UP unchanged; DECOMMISSIONED refused. */
  async approveNode(req: ApproveNodeRequest): Promise<void> {
    if (req.pubkey.length !== 32) {
      throw invalid(`pubkey must be 32 bytes, got ${req.pubkey.length}`);
    }
    const id = selectedNodeId({ case: "pubkey", value: req.pubkey });
    const r = await this.#l.updateNode(id, (n) => {
      if (n.fsmState === NodeState.DECOMMISSIONED) {
        throw failedPrecondition(`node ${id} is decommissioned`);
      }
      if (n.fsmState !== NodeState.NEW) return undefined;
      n.fsmState = NodeState.STANDBY;
      return n;
    });
    if (!r) throw notFound(`node ${id} not found`);
  }

  /** Role changes with the invariants of §12.7 and consensus membership (§11.3, §11.4). */
  async updateNodeRoles(req: UpdateNodeRolesRequest): Promise<void> {
    const id = selectedNodeId(req.node);
    const cur = await this.#l.readNode(id);
    if (!cur) throw notFound(`node ${id} not found`);
    const rec = cur.record;
    const has = {
      cm: !!rec.roles?.consensusMember,
      kc: !!rec.roles?.kubernetesController,
      kw: !!rec.roles?.kubernetesWorker,
    };
    const want = {
      cm: req.consensusMember ?? has.cm,
      kc: req.kubernetesController ?? has.kc,
      kw: req.kubernetesWorker ?? has.kw,
    };
    const grants = (want.cm && !has.cm) || (want.kc && !has.kc) || (want.kw && !has.kw);
    if (grants && rec.fsmState !== NodeState.UP) {
      throw failedPrecondition(
        `node ${id} is ${
          STATE_NAMES[rec.fsmState] ?? rec.fsmState
        }, roles can only be granted to UP nodes`,
      );
    }
    if (!want.cm && want.kc) {
      throw failedPrecondition(
        req.consensusMember === false
          ? "ConsensusMember cannot be removed while the node is KubernetesController"
          : "KubernetesController requires ConsensusMember",
      );
    }
    let consensusData = rec.roles?.consensusMember;
    if (want.cm && !has.cm) {
      try {
        consensusData = await this.#l.consensus.addNode(
          id,
          rec.publicKey,
          rec.status?.externalAddress || undefined,
        );
      } catch (e) {
        if (e instanceof StatusError) throw e;
        throw unavailable(`adding ${id} to consensus failed: ${(e as Error).message}`);
      }
    }
    if (!want.cm && has.cm) {
      try {
        await this.#l.consensus.removeNode(id);
      } catch (e) {
        if (e instanceof StatusError) throw e;
        throw unavailable(`removing ${id} from consensus failed: ${(e as Error).message}`);
      }
    }
    const r = await this.#l.updateNode(id, (n) => {
      const roles = create(NodeRolesSchema, {
        consensusMember: want.cm ? (n.roles?.consensusMember ?? consensusData) : undefined,
        kubernetesController: want.kc ? {} : undefined,
        kubernetesWorker: want.kw ? {} : undefined,
      });
      if (n.roles && equals(NodeRolesSchema, n.roles, roles)) return undefined;
      n.roles = roles;
      return n;
    });
    if (!r) throw notFound(`node ${id} not found`);
  }

  /** §12.12 (project): drain roles, leave consensus, DECOMMISSIONED, CUK erased. */
  async decommissionNode(req: DecommissionNodeRequest): Promise<void> {
    const id = selectedNodeId(req.node);
    const cur = await this.#l.readNode(id);
    if (!cur) throw notFound(`node ${id} not found`);
    const st = cur.record.fsmState;
    if (st === NodeState.DECOMMISSIONED) return;
    if (st === NodeState.UP) {
      if (id === this.#l.nodeId) {
        throw failedPrecondition(
          `node ${id} is the current curator leader: move leadership first`,
        );
      }
      if (cur.record.roles?.consensusMember) {
        try {
          await this.#l.consensus.removeNode(id);
        } catch (e) {
          throw unavailable(`removing ${id} from consensus failed: ${(e as Error).message}`);
        }
      }
    }
    const r = await this.#l.updateNode(id, (n) => {
      if (n.fsmState === NodeState.DECOMMISSIONED) return undefined;
      n.fsmState = NodeState.DECOMMISSIONED;
      n.roles = create(NodeRolesSchema, {});
      n.clusterUnlockKey = new Uint8Array();
      return n;
    });
    if (!r) throw notFound(`node ${id} not found`);
  }

  /** §12.10 DeleteNode with its safety bypasses. */
  async deleteNode(req: DeleteNodeRequest): Promise<void> {
    const id = selectedNodeId(req.node);
    // Not even with both bypasses: the leader cannot delete its own node record (it would go on
    // leading as an etcd member that no node record accounts for, and nobody could reach it).
    if (id === this.#l.nodeId) {
      throw failedPrecondition(`node ${id} is the current curator leader: move leadership first`);
    }
    for (let attempt = 0; attempt < 10; attempt++) {
      const cur = await this.#l.readNode(id);
      if (!cur) throw notFound(`node ${id} not found`);
      const rec = cur.record;
      const roles = roleNames(rec.roles);
      if (roles.length && !req.safetyBypassHasRoles) {
        throw failedPrecondition(
          `node ${id} has role ${roles[0]}: remove its roles first (or bypass: has roles)`,
        );
      }
      if (rec.fsmState === NodeState.UP && !req.safetyBypassNotDecommissioned) {
        throw failedPrecondition("node must be decommissioned first");
      }
      const ops = [{ delete: nodeKey(id) }] as { delete: string }[];
      if (rec.joinKey.length) ops.push({ delete: joinKeyKey(rec.joinKey) });
      const r = await this.#l.txn(
        [{ key: nodeKey(id), target: "mod", op: "==", value: cur.modRevision }],
        ops,
      );
      if (r.succeeded) {
        this.#l.heartbeats.delete(id);
        return;
      }
    }
    throw unavailable(`node ${id}: too many concurrent updates`);
  }

  /** §12.10 UpdateNodeLabels. */
  async updateNodeLabels(req: UpdateNodeLabelsRequest): Promise<void> {
    const id = selectedNodeId(req.node);
    const r = await this.#l.updateNode(id, (n) => {
      let pairs;
      try {
        pairs = applyLabelUpdate(
          (n.labels?.pairs ?? []).map((p) => ({ key: p.key, value: p.value })),
          req.upsert.map((p) => ({ key: p.key, value: p.value })),
          req.delete,
        );
      } catch (e) {
        if (e instanceof LabelError) {
          throw e.kind === "too_many" ? outOfRange(e.message) : invalid(e.message);
        }
        throw e;
      }
      n.labels = create(NodeLabelsSchema, { pairs });
      return n;
    });
    if (!r) throw notFound(`node ${id} not found`);
  }

  /** §12.10 ConfigureCluster: field-mask compare-and-swap. */
  async configureCluster(req: ConfigureClusterRequest): Promise<ConfigureClusterResponse> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const e = await this.#l.kv.get(CLUSTER_CONFIGURATION_KEY);
      const stored = e
        ? fromBinary(ClusterConfigurationSchema, e.value)
        : defaultClusterConfiguration();
      let next: ClusterConfiguration;
      try {
        next = applyConfigureCluster(stored, req.newConfig, req.updateMask, req.baseConfig);
      } catch (err) {
        if (err instanceof ConfigError) {
          throw err.kind === "failed_precondition"
            ? failedPrecondition(err.message)
            : invalid(err.message);
        }
        throw err;
      }
      const r = await this.#l.txn(
        [{
          key: CLUSTER_CONFIGURATION_KEY,
          target: "mod",
          op: "==",
          value: e?.modRevision ?? 0n,
        }],
        [{ put: CLUSTER_CONFIGURATION_KEY, value: toBinary(ClusterConfigurationSchema, next) }],
      );
      if (r.succeeded) return create(ConfigureClusterResponseSchema, { resultingConfig: next });
    }
    throw unavailable("cluster configuration: too many concurrent updates");
  }
}
