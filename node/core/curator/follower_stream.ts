/**
 * A follower's side of `GetCurrentLeader` (node.md §12.2): one answer per leader change, the
 * stream ended with UNAVAILABLE once this curator stops following or the leader's address is
 * unknown. Kept apart from the server so the ordering it depends on can be tested: a change that
 * lands while the leader's address is being read must still be sent (before, it was missed and
 * the stream kept naming the old leader until the next change, which might never come: a node's
 * workers then called a follower for as long as the cluster stayed calm).
 * @module
 */
import { unavailable } from "./status.ts";

/** What the stream needs to know of the curator's state. */
export type FollowedState =
  | { kind: "follower"; leaderId: string; leaderPort: number }
  | { kind: "none" | "leader" };

/** What {@link streamFollowedLeader} reads and writes. */
export interface FollowerStreamOptions {
  /** The curator's current state; a new object on every change. */
  state: () => FollowedState;
  /** Resolves at the next state change after the call, or when `signal` aborts. */
  nextChange: (signal: AbortSignal) => Promise<void>;
  /** The leader's address from its node record; undefined if unknown. */
  address: (leaderId: string) => Promise<string | undefined>;
  /** Sends one answer. */
  write: (leaderId: string, host: string, port: number) => void;
  signal: AbortSignal;
}

/** Answers while this curator follows; returns when `signal` aborts, throws UNAVAILABLE else. */
export async function streamFollowedLeader(o: FollowerStreamOptions): Promise<void> {
  let lastSent = "";
  for (;;) {
    const s = o.state();
    if (o.signal.aborted) return;
    if (s.kind !== "follower") throw unavailable("this node stopped following the leader");
    if (s.leaderId !== lastSent) {
      const host = await o.address(s.leaderId);
      // Changed while the address was read: answer for the state as it is now.
      if (o.state() !== s) continue;
      if (!host) throw unavailable(`address of curator leader ${s.leaderId} unknown`);
      o.write(s.leaderId, host, s.leaderPort);
      lastSent = s.leaderId;
    }
    // nextChange registers before anything else runs, so no change can fall in between.
    if (o.state() === s) await o.nextChange(o.signal);
  }
}
