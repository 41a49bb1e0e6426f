/**
 * Restart backoff of a DEAD runnable (node.md §4.3 rule 4): base_1 = 0.5 s,
 * base_n = min(base_{n-1} × 1.5, 60 s), actual delay uniform in [0.5 × base_n, 1.5 × base_n].
 */

/** First base delay in ms. */
export const BACKOFF_INITIAL_MS = 500;
/** Growth factor per failure. */
export const BACKOFF_MULTIPLIER = 1.5;
/** Largest base delay in ms. */
export const BACKOFF_MAX_MS = 60_000;
/** Relative jitter: the delay is base × (1 ± this). */
export const BACKOFF_JITTER = 0.5;

/** Exponential backoff state of one supervision node; never gives up. */
export class Backoff {
  #base = 0;

  /** The next delay in ms; `random` returns a number in [0, 1). */
  next(random: () => number): number {
    this.#base = this.#base === 0
      ? BACKOFF_INITIAL_MS
      : Math.min(this.#base * BACKOFF_MULTIPLIER, BACKOFF_MAX_MS);
    return this.#base * (1 - BACKOFF_JITTER + 2 * BACKOFF_JITTER * random());
  }

  /** Base delay used for the most recent `next` (0 before the first or after a reset). */
  get base(): number {
    return this.#base;
  }

  /** Starts over at base_1 (called on a Healthy signal). */
  reset(): void {
    this.#base = 0;
  }
}
