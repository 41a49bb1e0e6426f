/**
 * A level-triggered wake-up for loops that recompute something whenever any of several inputs
 * changed: {@link Trigger.fire} any number of times (e.g. from several {@link Value} watches),
 * {@link Trigger.wait} returns once per burst of fires. Starts fired, so the first wait returns at
 * once (the loop computes its first result without waiting for a change).
 */
import type { Value } from "./value.ts";

export class Trigger {
  #pending = true;
  #wake?: () => void;

  /** Marks a change and wakes a waiting {@link wait}. */
  fire(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Resolves once fired since the last wait, or when `signal` aborts. */
  async wait(signal: AbortSignal): Promise<void> {
    while (!this.#pending && !signal.aborted) {
      await new Promise<void>((r) => {
        this.#wake = r;
        signal.addEventListener("abort", () => r(), { once: true });
      });
    }
    this.#wake = undefined;
    this.#pending = false;
  }

  /** Fires on every change of each of `values` until `signal` aborts. */
  // deno-lint-ignore no-explicit-any -- only change events matter, not the values' types
  follow(values: readonly Value<any>[], signal: AbortSignal): void {
    for (const v of values) {
      (async () => {
        for await (const _ of v.watch({ signal })) this.fire();
      })().catch(() => {});
    }
  }
}
