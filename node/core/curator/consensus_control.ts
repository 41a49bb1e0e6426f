/**
 * What the curator needs from consensus (node.md §11.3, §11.4, §12.7): adding a node as an etcd
 * learner (with its peer certificate), removing members, and listing members. Implemented over
 * the etcd cluster API by node/core/consensus/membership.ts.
 */
import type { NodeRoles_ConsensusMember } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";

/** An etcd member as the curator sees it. */
export interface Member {
  /** etcd member ID (decimal string). */
  id: string;
  /** Member name = node ID (empty for a learner that has not started yet). */
  name: string;
  peerURLs: string[];
  isLearner: boolean;
}

/** See the module comment. */
export interface ConsensusControl {
  /**
   * Issues the node's etcd peer certificate (with `address` as an extra SAN: etcd checks a peer's
   * client certificate against its remote address) and adds it as a learner (skipped if already
   * a member); returns the ConsensusMember role data for the node record.
   */
  addNode(
    nodeId: string,
    publicKey: Uint8Array,
    address?: string,
  ): Promise<NodeRoles_ConsensusMember>;
  /** Removes the member named `nodeId` (no-op if absent); throws when etcd refuses. */
  removeNode(nodeId: string): Promise<void>;
  /** All members. */
  members(): Promise<Member[]>;
}
