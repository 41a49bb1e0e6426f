/**
 * Whether the curator leader's node is still there, as its next-in-line candidate sees it.
 *
 * A crashed leader's election key lives until its lease runs out: 6.7–10 s after the crash with
 * the spec's 10 s TTL kept alive every 3.3 s, plus etcd's 0.5 s expiry sweep, and no curator
 * serves the cluster meanwhile. The candidate next in line instead dials the leader's curator
 * port every {@link PROBE_EVERY_MS}; when every dial fails (refused, unreachable, or no answer
 * within {@link CONNECT_TIMEOUT_MS}) for {@link DEAD_AFTER_MS}, it deposes the leader
 * (election.ts `depose`), which is safe: every leader write is guarded by the election key.
 *
 * A TCP connect is answered by the leader's kernel, not by its event loop, so a busy or slow
 * leader passes; what fails is a dead process on a live host (refused at once), a dead or
 * disconnected host, or a network between the two that is down. In the last case the deposed
 * leader, if alive, sees its key go, campaigns again and queues behind the others, so two nodes
 * that cannot reach each other do not take turns. A leader whose address is unknown is never
 * judged.
 * @module
 */
import { delay } from "../../base/delay/delay.ts";
import { dialTcp } from "../../base/net/tcp.ts";
import { PORTS } from "../constants/ports.ts";

/** How often the next-in-line candidate dials the leader. */
export const PROBE_EVERY_MS = 500;
/** How long one dial may take before it counts as failed. */
export const CONNECT_TIMEOUT_MS = 1000;
/** How long every dial must fail before the leader counts as gone. */
export const DEAD_AFTER_MS = 2000;
/** How many dials in a row must fail before the leader counts as gone. */
export const DEAD_AFTER_FAILURES = 3;

/**
 * Failed dials in a row: gone once at least {@link DEAD_AFTER_FAILURES} failed over at least
 * {@link DEAD_AFTER_MS}; one answered dial starts over.
 */
export class FailedDials {
  #first?: number;
  #count = 0;

  /** Records one dial's outcome at `now` (ms); returns whether the leader counts as gone. */
  record(answered: boolean, now: number): boolean {
    if (answered) {
      this.#first = undefined;
      this.#count = 0;
      return false;
    }
    this.#first ??= now;
    this.#count++;
    return this.#count >= DEAD_AFTER_FAILURES && now - this.#first >= DEAD_AFTER_MS;
  }
}

/** What {@link leaderGone} needs. */
export interface LeaderGoneOptions {
  /** The leader's current address; undefined while unknown (never judged then). */
  address: () => Promise<string | undefined>;
  /** The leader's curator port (default 7835). */
  port?: number;
  /** Aborts the watch (the candidate is no longer next, or stops). */
  signal: AbortSignal;
  /** Dial (tests); default {@link dialTcp}. */
  dial?: (host: string, port: number, timeoutMs: number) => Promise<boolean>;
  /** Clock (tests). */
  now?: () => number;
}

/**
 * Resolves true once the leader counts as gone, false when `signal` aborts first. Reads the
 * leader's address before every dial: a leader that moved is dialed where it is now.
 */
export async function leaderGone(o: LeaderGoneOptions): Promise<boolean> {
  const dial = o.dial ?? dialTcp;
  const now = o.now ?? (() => performance.now());
  const dials = new FailedDials();
  while (!o.signal.aborted) {
    const started = now();
    const host = await o.address().catch(() => undefined);
    if (o.signal.aborted) break;
    if (host === undefined) dials.record(true, started);
    else if (dials.record(await dial(host, o.port ?? PORTS.curator, CONNECT_TIMEOUT_MS), started)) {
      return !o.signal.aborted;
    }
    const wait = PROBE_EVERY_MS - (now() - started);
    if (wait > 0) await delay(wait, o.signal);
  }
  return false;
}
