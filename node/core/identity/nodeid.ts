/** Node IDs (node.md §9): `metropolis-` + lowercase hex of the first 16 bytes of the raw key. */
import { toHex } from "../../base/pki/keys.ts";

/** Prefix of every node ID. */
export const NODE_ID_PREFIX = "metropolis-";

const NODE_ID_RE = /^metropolis-[0-9a-f]{32}$/;

/** The node ID of a raw 32-byte Ed25519 public key (43 characters; not a hash). */
export function nodeId(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) {
    throw new Error(`identity: a node public key is 32 bytes, got ${publicKey.length}`);
  }
  return NODE_ID_PREFIX + toHex(publicKey.subarray(0, 16));
}

/** True when `s` has the shape of a node ID. */
export function isNodeId(s: string): boolean {
  return NODE_ID_RE.test(s);
}
