/**
 * Conventions of the e2e suites (testing.md §1): `testEventual` retries a step every second until
 * it succeeds or its timeout expires (reporting the last error); `permanent()` stops retrying.
 */

/** An error that ends a {@link testEventual} step at once. */
export class PermanentError extends Error {}

/** Marks `err` as permanent. */
export function permanent(msg: string): PermanentError {
  return new PermanentError(msg);
}

/** Timeout multiplier for slow accelerators (`E2E_TIMEOUT_SCALE`, default 1). */
export function timeoutScale(): number {
  const s = Number(Deno.env.get("E2E_TIMEOUT_SCALE") ?? "1");
  return Number.isFinite(s) && s > 0 ? s : 1;
}

/** Retries `fn` every second until it resolves or `timeoutS` (scaled) passes. */
export async function testEventual<T>(
  name: string,
  timeoutS: number,
  fn: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + timeoutS * 1000 * timeoutScale();
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const r = await fn();
      console.log(`  step "${name}" ok after ${((Date.now() - start) / 1000).toFixed(1)} s`);
      return r;
    } catch (e) {
      if (e instanceof PermanentError) throw new Error(`${name}: ${e.message}`);
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`${name}: not done after ${timeoutS} s: ${(last as Error)?.message ?? last}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
