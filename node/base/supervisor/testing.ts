/**
 * Helpers for tests of supervised code: a recording, instantly-firing timing and a poll helper.
 * Used by this package's tests and by tests of runnables elsewhere.
 */
import type { Timing } from "./supervisor.ts";

/** Timing whose `schedule` records the requested delay and fires after `realMs` real ms. */
export class RecordingTiming implements Timing {
  /** Every delay passed to `schedule`, in call order. */
  readonly delays: number[] = [];
  constructor(readonly randomValue: () => number = () => 0.5, readonly realMs = 0) {}
  random = (): number => this.randomValue();
  schedule = (ms: number, fn: () => void): () => void => {
    this.delays.push(ms);
    const t = setTimeout(fn, this.realMs);
    return () => clearTimeout(t);
  };
}

/**
 * Timing whose restarts after a backoff never come (the test decides what happens next) while
 * restarts without delay fire at once; every requested delay is recorded.
 */
export class HeldBackoffTiming implements Timing {
  /** Every delay passed to `schedule`, in call order. */
  readonly delays: number[] = [];
  random = (): number => 0.5;
  schedule = (ms: number, fn: () => void): () => void => {
    this.delays.push(ms);
    if (ms > 0) return () => {};
    const t = setTimeout(fn, 0);
    return () => clearTimeout(t);
  };
}

/** Polls `pred` every 2 ms until it is true; throws naming `what` after `timeoutMs`. */
export async function waitUntil(
  pred: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
