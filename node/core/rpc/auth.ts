/**
 * Per-call authentication and authorization (node.md §10.2–10.3). {@link Authorizer} classifies
 * the client of a call from the certificates captured at the TLS handshake and checks the method's
 * `metropolis.proto.ext.authorization` option; {@link authorizeService} wraps a grpc-js service
 * implementation so every handler runs only after that check and can read {@link callerOf}.
 */
import * as grpc from "@grpc/grpc-js";
import { parseCertificate } from "../../base/pki/info.ts";
import { equalBytes } from "../../base/pki/keys.ts";
import {
  checkNodeProfile,
  checkUserProfile,
  IdentityError,
  verifySelfSigned,
} from "../identity/verify.ts";
import { verifyChain } from "../../base/pki/verify.ts";
import { NODE_PERMISSIONS, permissionName, USER_PERMISSIONS } from "./permissions.ts";

/** The authorization option of a method (as `proto/grpc.ts` `authorizationOf` returns it). */
export interface MethodAuthorization {
  /** Permission numbers the caller must all hold. */
  readonly need: readonly number[];
  /** Callable without authentication (only when `need` is empty). */
  readonly allowUnauthenticated: boolean;
}

/** Who is calling, as handlers see it. Raw keys are 32-byte Ed25519 public keys. */
export type Caller =
  | { kind: "node"; nodeId: string; publicKey: Uint8Array }
  | { kind: "user"; identity: string; publicKey: Uint8Array }
  | { kind: "unauthenticated"; provenKey?: Uint8Array };

/** A gRPC status error: handlers may throw it, the authorizer rejects calls with it. */
export class RpcError extends Error {
  /** `code`: a grpc-js `status`; `details`: the one-line message sent to the client. */
  constructor(readonly code: grpc.status, readonly details: string) {
    super(details);
    this.name = "RpcError";
  }
}

/** Options of an {@link Authorizer}. */
export interface AuthorizerOptions {
  /** The method's authorization option; undefined: the method has none (→ INTERNAL). */
  authorizationOf(methodPath: string): MethodAuthorization | undefined;
  /** Certificates the client of `peer` (= `call.getPeer()`) sent; e.g. `RpcServer.peerCertificates`. */
  peerCertificates(peer: string): readonly Uint8Array[] | undefined;
  /** DER of the cluster CA. */
  clusterCA: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
  /**
   * (project, leader only) Whether a node certificate's node may act: false when the node has no
   * record or is DECOMMISSIONED, which makes the call UNAUTHENTICATED. Absent: every node may.
   */
  nodeAccepted?(nodeId: string): boolean | Promise<boolean>;
  /** Permissions of an authenticated caller; default node.md §10.3. */
  permissions?(caller: Caller): ReadonlySet<number>;
}

type Classified =
  | { ok: Caller & { kind: "node" | "user" } }
  | { reason: string };

/** Decides per call who the caller is and whether it may call the method. */
export class Authorizer {
  readonly #o: AuthorizerOptions;
  // Classification depends only on the connection's certificates: cache it per connection.
  readonly #cache = new WeakMap<readonly Uint8Array[], Promise<Classified>>();

  /** See {@link AuthorizerOptions}. */
  constructor(opts: AuthorizerOptions) {
    this.#o = opts;
  }

  /**
   * Returns the caller of a call to `methodPath` from connection `peer`, or throws
   * {@link RpcError} with INTERNAL, UNAUTHENTICATED or PERMISSION_DENIED.
   */
  async authorize(methodPath: string, peer: string): Promise<Caller> {
    const authz = this.#o.authorizationOf(methodPath);
    if (!authz) {
      throw new RpcError(grpc.status.INTERNAL, `method ${methodPath} has no authorization policy`);
    }
    const certs = this.#o.peerCertificates(peer) ?? [];
    if (authz.need.length === 0 && authz.allowUnauthenticated) {
      return { kind: "unauthenticated", provenKey: await provenKey(certs) };
    }
    const c = await this.#classify(certs);
    if ("reason" in c) throw new RpcError(grpc.status.UNAUTHENTICATED, c.reason);
    const caller = c.ok;
    if (caller.kind === "node" && this.#o.nodeAccepted) {
      if (!(await this.#o.nodeAccepted(caller.nodeId))) {
        throw new RpcError(
          grpc.status.UNAUTHENTICATED,
          `node ${caller.nodeId} has no record or is decommissioned`,
        );
      }
    }
    const held = this.#o.permissions?.(caller) ??
      (caller.kind === "node" ? NODE_PERMISSIONS : USER_PERMISSIONS);
    const missing = authz.need.filter((p) => !held.has(p));
    if (missing.length) {
      const who = caller.kind === "node" ? `node ${caller.nodeId}` : `user ${caller.identity}`;
      throw new RpcError(
        grpc.status.PERMISSION_DENIED,
        `${who} lacks ${missing.map(permissionName).join(", ")}`,
      );
    }
    return caller;
  }

  #classify(certs: readonly Uint8Array[]): Promise<Classified> {
    let p = this.#cache.get(certs);
    if (!p) {
      p = this.#classifyUncached(certs);
      this.#cache.set(certs, p);
    }
    return p;
  }

  async #classifyUncached(certs: readonly Uint8Array[]): Promise<Classified> {
    if (certs.length === 0) return { reason: "no client certificate" };
    const ca = typeof this.#o.clusterCA === "function"
      ? await this.#o.clusterCA()
      : this.#o.clusterCA;
    // (project) OpenSSL-based clients (e.g. Python grpcio on Debian) complete the client chain
    // from their trust store and send [leaf, cluster CA]. A byte-identical copy of the cluster CA
    // adds nothing an attacker could use, so it is dropped; any other extra certificate still
    // makes the call UNAUTHENTICATED (wire/README.md: exactly one certificate).
    if (certs.length === 2 && equalBytes(certs[1], ca)) certs = [certs[0]];
    if (certs.length > 1) {
      return { reason: `exactly one certificate expected, got ${certs.length}` };
    }
    const der = certs[0];
    try {
      const info = parseCertificate(der);
      if (info.keyAlgorithm !== "Ed25519") {
        return { reason: `client key is ${info.keyAlgorithm}, not Ed25519` };
      }
      await verifyChain(der, ca, { now: null, leaf: info });
      let nodeReason: string;
      try {
        const n = checkNodeProfile(info);
        return { ok: { kind: "node", nodeId: n.nodeId, publicKey: n.publicKey } };
      } catch (e) {
        if (!(e instanceof IdentityError)) throw e;
        nodeReason = e.reason;
      }
      try {
        const u = checkUserProfile(info);
        return { ok: { kind: "user", identity: u.identity, publicKey: u.publicKey } };
      } catch (e) {
        if (!(e instanceof IdentityError)) throw e;
        return { reason: `neither node (${nodeReason}) nor user (${e.reason})` };
      }
    } catch (e) {
      return { reason: `client certificate: ${(e as Error).message.replace(/^pki: /, "")}` };
    }
  }
}

/** The proven key of an unauthenticated caller: exactly one self-signed Ed25519 certificate. */
async function provenKey(certs: readonly Uint8Array[]): Promise<Uint8Array | undefined> {
  if (certs.length !== 1) return undefined;
  try {
    return (await verifySelfSigned(certs[0])).publicKey;
  } catch {
    return undefined;
  }
}

const callers = new WeakMap<object, Caller>();

/** The caller of a call handled through {@link authorizeService}. Throws for other calls. */
export function callerOf(call: object): Caller {
  const c = callers.get(call);
  if (!c) throw new Error("rpc: callerOf on a call that did not pass the authorizer");
  return c;
}

function toStatus(e: unknown): Partial<grpc.StatusObject> {
  if (e instanceof RpcError) return { code: e.code, details: e.details };
  return { code: grpc.status.INTERNAL, details: `internal error: ${(e as Error)?.message ?? e}` };
}

// deno-lint-ignore no-explicit-any
type AnyHandler = (call: any, callback?: any) => unknown;

/**
 * Wraps every handler of `impl` (keyed like `definition`, e.g. by `proto/grpc.ts`
 * `serviceDefinition`) so it runs only after `authorizer` accepted the call; the handler reads the
 * caller with {@link callerOf}. Also turns a throw or rejected promise of a handler into a status
 * (an {@link RpcError}'s code, else INTERNAL) instead of crashing the process.
 */
export function authorizeService(
  definition: grpc.ServiceDefinition,
  impl: grpc.UntypedServiceImplementation,
  authorizer: Authorizer,
): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const handler = impl[name] as AnyHandler | undefined;
    if (!handler) continue;
    const path = method.path;
    const responseStream = method.responseStream;
    const wrapped: AnyHandler = (call, callback) => {
      const fail = (e: unknown) => {
        const st = toStatus(e);
        if (responseStream) call.emit("error", st);
        else callback(st);
      };
      authorizer.authorize(path, call.getPeer()).then((caller) => {
        callers.set(call, caller);
        try {
          const r = handler(call, callback);
          if (r instanceof Promise) r.catch(fail);
        } catch (e) {
          fail(e);
        }
      }, fail);
    };
    out[name] = wrapped as grpc.UntypedHandleCall;
  }
  return out;
}
