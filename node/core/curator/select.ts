/** Node selection shared by UpdateNodeRoles, DecommissionNode, DeleteNode, UpdateNodeLabels. */
import { isNodeId, nodeId } from "../identity/nodeid.ts";
import { invalid, notFound } from "./status.ts";

/** The `oneof node` of those requests. */
export type NodeSelector =
  | { case: "pubkey"; value: Uint8Array }
  | { case: "id"; value: string }
  | { case: undefined; value?: undefined };

/**
 * Returns the node ID a selector names (node.md §12.10): neither set or `pubkey` not 32 bytes →
 * INVALID_ARGUMENT. Unknown nodes are the caller's NOT_FOUND.
 */
export function selectedNodeId(sel: NodeSelector): string {
  switch (sel.case) {
    case "pubkey":
      if (sel.value.length !== 32) {
        throw invalid(`node.pubkey must be 32 bytes, got ${sel.value.length}`);
      }
      return nodeId(sel.value);
    case "id":
      // A malformed ID names no node: NOT_FOUND, like any other unknown ID (node.md §12.10).
      if (!isNodeId(sel.value)) throw notFound(`node ${JSON.stringify(sel.value)} not found`);
      return sel.value;
    default:
      throw invalid("node must be selected by pubkey or id");
  }
}
