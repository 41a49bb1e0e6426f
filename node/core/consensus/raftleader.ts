/**
 * Keeps etcd's raft leadership off the node whose curator leads. When one node holds both and
 * crashes, the curator's election lease outlives it by more than its TTL: the surviving members
 * first elect a new raft leader (about one election timeout), and a new raft leader extends every
 * lease by its full TTL, since it cannot know when the old one last saw a keepalive. A failover
 * measured 12.4–12.8 s then against 7.5–8.4 s when the crashed node was only the curator leader
 * (4-node namespace cluster, docs/operations.md). So the member that is raft leader, on the node
 * whose curator leads, hands raft leadership to another voting member (etcd MoveLeader), checked
 * with the learner promotion every 5 s.
 */
import type { Member } from "../curator/consensus_control.ts";

/** What {@link raftHandoverTarget} decides from. */
export interface RaftView {
  /** Member ID of the raft leader, as the local member reports it (Status). */
  raftLeader: string;
  /** Member ID of the local member. */
  self: string;
  /** Whether this node's curator leads. */
  curatorLeadsHere: boolean;
  /** Every member (MemberList). */
  members: readonly Member[];
}

/**
 * The member to hand raft leadership to, or undefined when it should stay: only the raft leader on
 * the curator leader's node hands over, to a started voting member (a learner cannot lead);
 * `random` in [0, 1) picks among several, so that a dead one is not chosen every time.
 */
export function raftHandoverTarget(
  v: RaftView,
  random: () => number = Math.random,
): Member | undefined {
  if (!v.curatorLeadsHere || v.raftLeader !== v.self) return undefined;
  const voters = v.members.filter((m) => m.id !== v.self && !m.isLearner && m.name);
  return voters.length ? voters[Math.floor(random() * voters.length)] : undefined;
}
