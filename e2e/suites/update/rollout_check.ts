/**
 * The judgement of a rolling update watched from outside (issue #14: "`metroctl node update` over
 * a 2-node VM cluster keeps at least one node HEALTHY throughout"): from looks taken every few
 * seconds and the times metroctl took each node in and out of its update, whether a node that was
 * not being updated was ever away, and whether a moment with exactly one node away was seen.
 *
 * A node counts as up in a look when GetNodes shows it HEALTHY, or when the node's own agent
 * answered an RPC and GetNodes could not vouch for it: GetNodes did not answer (with the only
 * consensus member away there is no curator), or it answered UNKNOWN within a new leader's grace —
 * a leader reports UNKNOWN for an UP node until that node's first heartbeat reaches it, for
 * HEARTBEAT_TIMEOUT_MS (node/core/curator/view.ts) after it took over. HEARTBEAT_TIMEOUT is never
 * up.
 * @module
 */
import { Node_Health } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";

/** One look: GetNodes (or none) and which node agents answered directly. */
export interface Look {
  /** Seconds (since the rollout's start) when the look was started and when it was complete. */
  atS: number;
  doneS: number;
  /** GetNodes' answer; undefined when it failed. */
  nodes?: { id: string; health: Node_Health }[];
  /** IDs of the nodes whose agent answered an RPC during the look. */
  agents: string[];
}

/** When metroctl took a node in (`sending update request`) and out (`updated in`); seconds. */
export interface Window {
  fromS: number;
  toS: number;
}

/** What {@link judgeRollout} found. */
export interface Verdict {
  /** One line per look in which a node outside its update window was not up. */
  violations: string[];
  /** Whether some look saw exactly one node away. */
  oneAway: boolean;
}

/**
 * Judges `looks` of the nodes `ids` against the update `windows` (by node ID; a window still open
 * at the end has `toS: Infinity`). `graceS`: how long a new leader may report UNKNOWN (the curator's
 * HEARTBEAT_TIMEOUT_MS); it is counted from the first GetNodes answer after one that failed, since
 * a leader that answers has taken over at the latest then. That needs every change of leader to
 * fail a look: the looks must not wait for a leader longer than the old one is away.
 */
export function judgeRollout(
  ids: string[],
  looks: Look[],
  windows: Map<string, Window>,
  graceS: number,
): Verdict {
  const violations: string[] = [];
  let oneAway = false;
  let backS = -Infinity;
  let gap = false;
  const ordered = [...windows.entries()].sort((a, b) => a[1].fromS - b[1].fromS);
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i][1].fromS < ordered[i - 1][1].toS) {
      violations.push(`${ordered[i][0]} was taken in before ${ordered[i - 1][0]} was back`);
    }
  }
  for (const l of looks) {
    if (!l.nodes) gap = true;
    else if (gap) {
      gap = false;
      backS = l.doneS;
    }
    const away: string[] = [];
    for (const id of ids) {
      const why = notUp(id, l, l.atS < backS + graceS);
      if (!why) continue;
      away.push(id);
      const w = windows.get(id);
      const updating = w !== undefined && w.fromS <= l.doneS && w.toS >= l.atS;
      if (!updating) {
        violations.push(`${l.atS.toFixed(0)} s: ${id} is not being updated but ${why}`);
      }
    }
    if (away.length === ids.length) violations.push(`${l.atS.toFixed(0)} s: no node up`);
    if (away.length === 1) oneAway = true;
  }
  return { violations, oneAway };
}

/** Why node `id` is not up in `l`, or undefined when it is. */
function notUp(id: string, l: Look, inGrace: boolean): string | undefined {
  const agent = l.agents.includes(id);
  if (!l.nodes) return agent ? undefined : "GetNodes failed and its agent did not answer";
  const n = l.nodes.find((n) => n.id === id);
  if (!n) return "GetNodes does not list it";
  if (n.health === Node_Health.HEALTHY) return undefined;
  if (n.health === Node_Health.UNKNOWN && inGrace) {
    return agent ? undefined : "it is UNKNOWN and its agent did not answer";
  }
  return `GetNodes shows it ${Node_Health[n.health]}`;
}
