/**
 * The one delay helper for in-call waits and retries: {@link delay} sleeps `ms` or until `signal`
 * aborts (then it resolves early: callers check `signal.aborted`), and {@link aborted} resolves
 * when the signal aborts. A non-finite `ms` waits for the abort only (setTimeout(Infinity) would
 * fire at once).
 */

/** Sleeps `ms` milliseconds, or until `signal` aborts (resolves early, never rejects). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      if (t !== undefined) clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = Number.isFinite(ms) ? setTimeout(done, Math.max(0, ms)) : undefined;
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Resolves once `signal` aborts (at once if it already has). */
export function aborted(signal: AbortSignal): Promise<void> {
  return delay(Infinity, signal);
}
