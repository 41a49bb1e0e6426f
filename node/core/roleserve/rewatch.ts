/**
 * When a node watches all nodes again after losing the leader's watch (a failover, usually).
 *
 * Every agent watches all nodes (hosts file, resolver seeds, cluster networking), so a new leader
 * owes N nodes a backlog of N nodes each at once. Measured on our leader: ≈ 2 µs of CPU per node
 * per backlog (10 ms for a 5,000-node backlog), so 5,000 nodes re-watching together cost it ≈ 50 s
 * of one thread, while the same nodes' heartbeats wait behind them and read HEARTBEAT_TIMEOUT.
 * A node that already holds a node list keeps it and waits a random part of a window before it
 * watches again; over the window the backlogs cost the leader about half a core on average,
 * which leaves the rest for heartbeats. Small clusters do not notice (3 nodes: 36 µs; 1,000
 * nodes: 4 s); the window is capped so a large cluster's lists are never stale longer than that.
 * The upstream wire has no resume-from-revision for this watch, so the backlog is the whole list.
 */

/** Window per pair of nodes (N² pairs): 2 µs of leader CPU per pair at half a core. */
export const REWATCH_WINDOW_PER_NODE_PAIR_MS = 0.004;
/** The longest a node waits before watching a new leader (its list stays that stale at most). */
export const REWATCH_MAX_WINDOW_MS = 180_000;

/** The window over which `nodes` re-watching nodes spread their watches, in milliseconds. */
export function rewatchWindowMs(nodes: number): number {
  const n = Math.max(0, nodes);
  return Math.min(REWATCH_MAX_WINDOW_MS, n * n * REWATCH_WINDOW_PER_NODE_PAIR_MS);
}

/** This node's wait before watching again while it knows `nodes` nodes (uniform in the window). */
export function rewatchDelayMs(nodes: number, random: () => number = Math.random): number {
  return random() * rewatchWindowMs(nodes);
}
