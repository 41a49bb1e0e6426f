/**
 * Who is calling, as established by the RPC layer's authentication (node.md §10.2). Curator
 * service functions take a Caller instead of a raw gRPC call so they can be tested directly.
 */

/** An authenticated node (node certificate). */
export interface NodeCaller {
  kind: "node";
  nodeId: string;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
}

/** An authenticated user (user certificate), e.g. `owner`. */
export interface UserCaller {
  kind: "user";
  identity: string;
}

/** No cluster certificate; `provenKey` is set when a valid self-signed certificate was shown. */
export interface UnauthenticatedCaller {
  kind: "unauthenticated";
  provenKey?: Uint8Array;
}

/** Any caller. */
export type Caller = NodeCaller | UserCaller | UnauthenticatedCaller;
