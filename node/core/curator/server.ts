/**
 * The curator on port 7835 (node.md §12.1–§12.2): one gRPC server per ConsensusMember that serves
 * CuratorLocal always, and Management, AAA and Curator while this node leads. Leadership comes
 * from the etcd election; each term gets a fresh {@link Leader} (node cache, heartbeat memory).
 */
import { PORTS } from "../constants/ports.ts";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  LeaderElectionValueSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/private/lock_pb.ts";
import {
  Curator as CuratorService,
  CuratorLocal as CuratorLocalService,
  GetCACertificateResponseSchema,
  GetCurrentLeaderResponseSchema,
  type WatchRequest,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { Management as ManagementService } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import {
  AAA as AAAService,
  type EscrowRequest,
} from "../../../proto/gen/metropolis/proto/api/aaa_pb.ts";
import { NodeState } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { NodeSchema as NodeRecordSchema } from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import { authorizationOf, serviceDefinition } from "../../../proto/grpc.ts";
import { CA } from "../../base/pki/ca.ts";
import { CLUSTER_CA_TEMPLATE } from "../identity/profiles.ts";
import type { KV } from "../consensus/kv.ts";
import { EtcdPkiStorage } from "../consensus/pkistorage.ts";
import { Authorizer, authorizeService, callerOf, RpcError } from "../rpc/auth.ts";
import { type ConnectionLimits, RpcServer } from "../rpc/server.ts";
import { writeFramed } from "../rpc/framed.ts";
import { NodeCache } from "./cache.ts";
import type { Caller } from "../rpc/auth.ts";
import type { ConsensusControl } from "./consensus_control.ts";
import { campaign, depose, type LeaderObservation } from "./election.ts";
import { DEAD_AFTER_MS, leaderGone } from "./liveness.ts";
import { streamFollowedLeader } from "./follower_stream.ts";
import { Enrolment } from "./enrolment.ts";
import { escrow } from "./aaa.ts";
import { CLUSTER_CA_NAME, CLUSTER_PKI_NAMESPACE, nodeKey } from "./keys.ts";
import { Leader } from "./leader.ts";
import { Management } from "./management.ts";
import { reconcileLoop } from "./reconcile.ts";
import { NodeSelf } from "./nodeself.ts";
import {
  cancelled,
  deadlineExceeded,
  StatusError,
  toStatusError,
  unavailable,
  unimplemented,
} from "./status.ts";
import { watch } from "./watch.ts";

/** The curator port. */
export const CURATOR_PORT = PORTS.curator;

/**
 * How long `GetCurrentLeader` on a curator without an election result waits for one before it
 * answers UNAVAILABLE (bounded, so a resolver stuck on a partitioned curator tries its seeds again).
 */
export const ELECTION_WAIT_MS = 2000;

/**
 * Connection limits of the curator's server. Every node keeps one connection to the leader with
 * a few calls in progress (Heartbeat, Watch), so the RpcServer defaults (1,024 connections, 4,096
 * calls) would cap a cluster at about a thousand nodes. Sized for 20,000 nodes (the heartbeat
 * benchmark runs 15,000) with room for operators; the agent raises its open-file limit far above
 * this (node/main.ts). Handshake and idle timeouts stay the defaults, so connections that never
 * authenticate or never call still go away.
 */
export const CURATOR_CONNECTION_LIMITS: Partial<ConnectionLimits> = {
  maxConnections: 20_480,
  maxCalls: 65_536,
};

/** Options of {@link CuratorServer}. */
export interface CuratorServerOptions {
  /** etcd root namespace (the curator uses `curator/` below it). */
  kv: KV;
  /** This node's ID. */
  nodeId: string;
  /** This node's certificate (DER) and key for TLS. */
  certificate: Uint8Array;
  privateKey: CryptoKey;
  consensus: ConsensusControl;
  /** This node's current external address ("" if unknown). */
  externalAddress: () => string;
  /** Port to listen on (default 7835; 0 = any, for tests). */
  port?: number;
  /** Host to bind (default all addresses). */
  host?: string;
  /** Election lease TTL in seconds (default 10). */
  leaseTtl?: number;
  /** Called with status lines (leadership changes). */
  log?: (line: string) => void;
  /** Clock for health (tests). */
  now?: () => number;
}

type State =
  | { kind: "none" }
  | { kind: "follower"; leader: LeaderObservation; leaderId: string; leaderPort: number }
  | {
    kind: "leader";
    leader: Leader;
    management: Management;
    enrolment: Enrolment;
    self: NodeSelf;
  };

function toRpc(e: unknown): RpcError {
  const s = e instanceof StatusError ? e : toStatusError(e);
  return new RpcError(s.code, s.message);
}

/** See the module comment. */
export class CuratorServer {
  readonly #o: CuratorServerOptions;
  readonly #curatorKV: KV;
  readonly #ca: CA;
  readonly #rpc: RpcServer;
  #state: State = { kind: "none" };
  #changed = new Set<() => void>();
  #port = 0;

  /** Prepares the server; {@link run} starts it. */
  constructor(o: CuratorServerOptions) {
    this.#o = o;
    this.#curatorKV = o.kv.namespace("curator/");
    this.#ca = new CA({
      storage: new EtcdPkiStorage(this.#curatorKV.namespace(CLUSTER_PKI_NAMESPACE)),
      name: CLUSTER_CA_NAME,
      template: CLUSTER_CA_TEMPLATE,
    });
    this.#rpc = new RpcServer({
      certificate: o.certificate,
      privateKey: o.privateKey,
      limits: CURATOR_CONNECTION_LIMITS,
    });
    const authorizer = new Authorizer({
      authorizationOf,
      peerCertificates: (p) => this.#rpc.peerCertificates(p),
      clusterCA: () => this.#ca.certificate(),
      nodeAccepted: (id) => this.#nodeAccepted(id),
    });
    const add = (
      svc: Parameters<typeof serviceDefinition>[0],
      impl: grpc.UntypedServiceImplementation,
    ) => {
      const def = withPreEncoded(serviceDefinition(svc));
      this.#rpc.grpc.addService(def, authorizeService(def, impl, authorizer));
    };
    add(CuratorLocalService, this.#curatorLocal());
    add(ManagementService, this.#management());
    add(AAAService, this.#aaa());
    add(CuratorService, this.#curator());
  }

  /** The bound port (after {@link run} started listening). */
  get port(): number {
    return this.#port;
  }

  /** Whether this node currently leads. */
  get isLeader(): boolean {
    return this.#state.kind === "leader";
  }

  readonly #listening = Promise.withResolvers<number>();

  /** Resolves with the bound port once the server listens. */
  get listening(): Promise<number> {
    return this.#listening.promise;
  }

  /** Serves and campaigns until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.#port = await this.#rpc.listen(this.#o.port ?? CURATOR_PORT, this.#o.host);
    this.#listening.resolve(this.#port);
    const log = this.#o.log ?? (() => {});
    const value = toBinary(
      LeaderElectionValueSchema,
      create(LeaderElectionValueSchema, {
        nodeId: this.#o.nodeId,
        ttl: BigInt(this.#o.leaseTtl ?? 10),
        port: this.#port,
      }),
    );
    try {
      while (!signal.aborted) {
        let leadership;
        try {
          leadership = await campaign(this.#curatorKV, {
            ttl: this.#o.leaseTtl ?? 10,
            value,
            signal,
            onLeader: (l) => {
              if (!l) return this.#setState({ kind: "none" });
              const v = fromBinary(LeaderElectionValueSchema, l.value);
              const leaderId = v.nodeId;
              if (this.#state.kind !== "follower" || this.#state.leaderId !== leaderId) {
                log(`following curator leader ${leaderId}`);
              }
              this.#setState({
                kind: "follower",
                leader: l,
                leaderId,
                leaderPort: v.port || CURATOR_PORT,
              });
            },
            // Next in line: a leader whose node stopped answering is deposed before its lease
            // runs out (liveness.ts).
            whileNext: async (l, next) => {
              const v = fromBinary(LeaderElectionValueSchema, l.value);
              const gone = await leaderGone({
                address: () => this.#leaderAddress(v.nodeId),
                port: v.port || CURATOR_PORT,
                signal: next,
              });
              if (!gone) return;
              log(
                `curator leader ${v.nodeId} unreachable for ${DEAD_AFTER_MS / 1000} s: deposing it`,
              );
              await depose(this.#curatorKV, l);
            },
          });
        } catch (e) {
          if (signal.aborted) break;
          log(`election failed: ${(e as Error).message}; retrying`);
          this.#setState({ kind: "none" });
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        const termAbort = new AbortController();
        const stopTerm = () => termAbort.abort();
        leadership.lost.addEventListener("abort", stopTerm, { once: true });
        signal.addEventListener("abort", stopTerm, { once: true });
        try {
          const cache = await NodeCache.start(this.#curatorKV, termAbort.signal);
          const leader = new Leader({
            kv: this.#curatorKV,
            rootKV: this.#o.kv,
            leadership,
            nodeId: this.#o.nodeId,
            cache,
            ca: this.#ca,
            consensus: this.#o.consensus,
            now: this.#o.now,
          });
          this.#setState({
            kind: "leader",
            leader,
            management: new Management(leader),
            enrolment: new Enrolment(leader),
            self: new NodeSelf(leader),
          });
          log("this node is now the curator leader");
          void reconcileLoop(leader, log);
          await new Promise<void>((r) => {
            if (termAbort.signal.aborted) r();
            else termAbort.signal.addEventListener("abort", () => r(), { once: true });
          });
          log(`curator leadership ended: ${leadership.lost.reason?.message ?? "stopping"}`);
        } catch (e) {
          log(`leader term failed: ${(e as Error).message}`);
        } finally {
          signal.removeEventListener("abort", stopTerm);
          termAbort.abort();
          await leadership.resign().catch(() => {});
          this.#setState({ kind: "none" });
        }
      }
    } finally {
      this.#setState({ kind: "none" });
      await this.#rpc.shutdown(false).catch(() => {});
    }
  }

  #setState(s: State) {
    this.#state = s;
    for (const f of [...this.#changed]) f();
  }

  /** Resolves at the next state change (or when `signal` aborts). */
  #nextChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#changed.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.#changed.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  async #nodeAccepted(id: string): Promise<boolean> {
    const s = this.#state;
    if (s.kind !== "leader") return true; // followers rely on permissions (node.md §10.2)
    await s.leader.cache.sync().catch(() => {});
    const rec = s.leader.cache.nodes.get(id)?.record;
    return !!rec && rec.fsmState !== NodeState.DECOMMISSIONED;
  }

  #leading(): Extract<State, { kind: "leader" }> {
    const s = this.#state;
    if (s.kind !== "leader") {
      throw new RpcError(grpc.status.UNIMPLEMENTED, "this curator is not the leader");
    }
    return s;
  }

  // deno-lint-ignore no-explicit-any
  #unary(fn: (req: any, caller: Caller) => Promise<unknown>): grpc.handleUnaryCall<any, any> {
    return (call, cb) => {
      let caller: Caller;
      try {
        caller = callerOf(call);
      } catch (e) {
        return cb(toRpcStatus(e));
      }
      fn(call.request, caller).then(
        (res) => cb(null, res ?? {}),
        (e) => cb(toRpcStatus(e)),
      );
    };
  }

  #curatorLocal(): grpc.UntypedServiceImplementation {
    return {
      getCACertificate: this.#unary(async () =>
        create(GetCACertificateResponseSchema, {
          identityCaCertificate: await this.#ca.certificate(),
        })
      ),
      getCurrentLeader: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const ac = new AbortController();
        call.on("cancelled", () => ac.abort());
        call.on("close", () => ac.abort());
        this.#getCurrentLeader(call, ac.signal).then(
          () => call.end(),
          (e) => call.emit("error", toRpcStatus(e)),
        );
      },
    };
  }

  async #getCurrentLeader(call: grpc.ServerWritableStream<unknown, unknown>, signal: AbortSignal) {
    // A curator that just started has no election result yet: wait a little for one instead of
    // failing the caller into its backoff (the bootstrap node's resolver dials its own curator
    // the moment it listens).
    const settled = AbortSignal.any([signal, AbortSignal.timeout(ELECTION_WAIT_MS)]);
    while (this.#state.kind === "none" && !settled.aborted) await this.#nextChange(settled);
    const first = this.#state;
    if (first.kind === "none") throw unavailable("no curator leader elected yet");
    if (first.kind === "leader") {
      call.write(create(GetCurrentLeaderResponseSchema, {
        leaderNodeId: this.#o.nodeId,
        leaderHost: this.#o.externalAddress(),
        leaderPort: this.#port,
        thisNodeId: this.#o.nodeId,
      }));
      while (!signal.aborted && this.#state === first) await this.#nextChange(signal);
      if (signal.aborted) return;
      throw unavailable("curator leadership changed");
    }
    await streamFollowedLeader({
      state: () => this.#state,
      nextChange: (sig) => this.#nextChange(sig),
      address: (id) => this.#leaderAddress(id),
      write: (leaderNodeId, leaderHost, leaderPort) =>
        call.write(create(GetCurrentLeaderResponseSchema, {
          leaderNodeId,
          leaderHost,
          leaderPort,
          thisNodeId: this.#o.nodeId,
        })),
      signal,
    });
  }

  async #leaderAddress(id: string): Promise<string | undefined> {
    const e = await this.#curatorKV.get(nodeKey(id));
    if (!e) return undefined;
    return fromBinary(NodeRecordSchema, e.value).status?.externalAddress || undefined;
  }

  #management(): grpc.UntypedServiceImplementation {
    const m = () => this.#leading().management;
    return {
      getRegisterTicket: this.#unary(() => m().getRegisterTicket()),
      getClusterInfo: this.#unary(() => m().getClusterInfo()),
      getNodes: (call: grpc.ServerWritableStream<{ filter: string }, unknown>) => {
        const { signal, done } = callSignal(call);
        (async () => {
          // Nodes encoded by hand from cached parts (toBinary was most of a 10,000-node call),
          // in batches of framed messages: one grpc-js write per ≈ 64 KiB, not per node.
          await writeFramed(call, await m().getNodesFramed(call.request as never, signal));
        })().finally(done).then(() => call.end(), (e) => {
          if (!call.cancelled) call.emit("error", toRpcStatus(e));
        });
      },
      approveNode: this.#unary((r) => m().approveNode(r)),
      updateNodeRoles: this.#unary((r) => m().updateNodeRoles(r)),
      decommissionNode: this.#unary((r) => m().decommissionNode(r)),
      deleteNode: this.#unary((r) => m().deleteNode(r)),
      updateNodeLabels: this.#unary((r) => m().updateNodeLabels(r)),
      configureCluster: this.#unary((r) => m().configureCluster(r)),
    };
  }

  #aaa(): grpc.UntypedServiceImplementation {
    return {
      escrow: (call: grpc.ServerDuplexStream<EscrowRequest, unknown>) => {
        let started = false;
        call.on("data", (req: EscrowRequest) => {
          if (started) return;
          started = true;
          (async () => {
            const s = this.#leading();
            const out = await escrow(s.leader, req, callerOf(call));
            for (const r of out.responses) call.write(r);
            if (out.error) throw out.error;
          })().then(() => call.end(), (e) => call.emit("error", toRpcStatus(e)));
        });
        call.on("end", () => {
          if (!started) call.end();
        });
      },
    };
  }

  #curator(): grpc.UntypedServiceImplementation {
    const s = () => this.#leading();
    return {
      watch: (call: grpc.ServerWritableStream<WatchRequest, unknown>) => {
        const ac = new AbortController();
        call.on("cancelled", () => ac.abort());
        (async () => {
          const st = s();
          for await (const ev of watch(st.leader, call.request, ac.signal)) {
            if (ac.signal.aborted) return;
            const ok = call.write(ev);
            if (!ok) await new Promise((r) => call.once("drain", r));
          }
        })().then(() => call.end(), (e) => {
          if (!ac.signal.aborted) call.emit("error", toRpcStatus(e));
        });
      },
      updateNodeStatus: this.#unary((r, c) => s().self.updateNodeStatus(r, c)),
      heartbeat: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        let caller: Caller;
        try {
          caller = callerOf(call);
          s().self.checkHeartbeatCaller(caller);
        } catch (e) {
          call.emit("error", toRpcStatus(e));
          return;
        }
        call.on("data", () => {
          try {
            s().self.heartbeat(caller);
            call.write({});
          } catch (e) {
            call.emit("error", toRpcStatus(e));
          }
        });
        call.on("end", () => call.end());
        call.on("error", () => {});
      },
      registerNode: this.#unary((r, c) => s().enrolment.registerNode(r, c)),
      commitNode: this.#unary((r, c) => s().enrolment.commitNode(r, c)),
      joinNode: this.#unary((r, c) => s().enrolment.joinNode(r, c)),
      issueCertificate: this.#unary((r, c) => s().self.issueCertificate(r, c)),
      updateNodeClusterNetworking: this.#unary((r, c) =>
        s().self.updateNodeClusterNetworking(r, c)
      ),
      getConsensusStatus: this.#unary(() => s().self.getConsensusStatus()),
    };
  }
}

/** Methods whose handlers may write already encoded responses (`Uint8Array`). */
const PRE_ENCODED: Record<string, string> = {
  getNodes: "/metropolis.proto.api.Management/GetNodes",
  watch: "/metropolis.node.core.curator.proto.api.Curator/Watch",
};

/**
 * `def` with a response serializer that sends `Uint8Array`s (already encoded Nodes, Watch
 * backlog events) as they are, for the methods of {@link PRE_ENCODED} it has; other definitions
 * are returned unchanged.
 */
function withPreEncoded(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out = { ...def };
  for (const [name, path] of Object.entries(PRE_ENCODED)) {
    const m = def[name];
    if (!m || m.path !== path) continue;
    const serialize = m.responseSerialize;
    out[name] = {
      ...m,
      responseSerialize: (v: unknown) =>
        v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : serialize(v),
    };
  }
  return out;
}

/**
 * A signal aborted when `call` is cancelled (client gone, or grpc-js's own deadline timer) or
 * its deadline passes, with a {@link StatusError} as reason; `done` releases the timer.
 */
function callSignal(
  call: grpc.ServerWritableStream<unknown, unknown>,
): { signal: AbortSignal; done: () => void } {
  const ac = new AbortController();
  const onCancel = () => ac.abort(cancelled("call cancelled"));
  call.on("cancelled", onCancel);
  const deadline = call.getDeadline();
  const ms = (deadline instanceof Date ? deadline.getTime() : Number(deadline)) - Date.now();
  const timer = Number.isFinite(ms)
    ? setTimeout(() => ac.abort(deadlineExceeded("deadline exceeded")), Math.max(0, ms))
    : undefined;
  return {
    signal: ac.signal,
    done: () => {
      clearTimeout(timer);
      call.off("cancelled", onCancel);
    },
  };
}

function toRpcStatus(e: unknown): Partial<grpc.StatusObject> {
  if (e instanceof RpcError) return { code: e.code, details: e.details };
  const r = toRpc(e);
  return { code: r.code, details: r.details };
}

export { unimplemented };
