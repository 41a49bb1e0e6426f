/**
 * The role workers that talk to the curator leader, started as children of the roleserver. After
 * a leader crash they fail against the old leader, which refuses them, until its election lease
 * runs out; their restart backoff grows meanwhile (to several seconds after 10 s). When the
 * resolver names a leader, those waiting out such a backoff start again at once: the delay was
 * earned against a leader that is gone, and holding it against the new one would add seconds to
 * every node's failover.
 */
import { type Context, retryNow, run, type Runnable } from "../../base/supervisor/supervisor.ts";
import type { LeaderResolver } from "../rpc/resolver.ts";

/** Starts `workers` as children of the runnable behind `ctx`, retried at once on a new leader. */
export function runLeaderWorkers(
  ctx: Context,
  resolver: Pick<LeaderResolver, "onChange">,
  workers: Record<string, Runnable>,
): void {
  for (const [name, w] of Object.entries(workers)) run(ctx, name, w);
  const names = Object.keys(workers);
  const unsubscribe = resolver.onChange((leader) => {
    if (leader) retryNow(ctx, names);
  });
  ctx.signal.addEventListener("abort", unsubscribe, { once: true });
}
