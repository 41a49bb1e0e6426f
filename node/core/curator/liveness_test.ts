import assert from "node:assert/strict";
import {
  DEAD_AFTER_FAILURES,
  DEAD_AFTER_MS,
  FailedDials,
  leaderGone,
  PROBE_EVERY_MS,
} from "./liveness.ts";

Deno.test("liveness: gone only after enough failed dials over enough time; an answer starts over", () => {
  const d = new FailedDials();
  // Many quick failures are not enough: they must also span DEAD_AFTER_MS.
  for (let i = 0; i < DEAD_AFTER_FAILURES + 2; i++) assert.equal(d.record(false, i), false);
  assert.equal(d.record(false, DEAD_AFTER_MS), true);

  const e = new FailedDials();
  // Nor is a long time with too few failures.
  assert.equal(e.record(false, 0), false);
  assert.equal(e.record(false, 10 * DEAD_AFTER_MS), DEAD_AFTER_FAILURES <= 2);
  const f = new FailedDials();
  for (let i = 0; i < DEAD_AFTER_FAILURES - 1; i++) f.record(false, i * DEAD_AFTER_MS);
  assert.equal(f.record(true, DEAD_AFTER_MS * DEAD_AFTER_FAILURES), false, "answered");
  assert.equal(f.record(false, DEAD_AFTER_MS * (DEAD_AFTER_FAILURES + 1)), false, "counts again");
});

/** A clock that advances `step` ms per reading, so the probe loop never sleeps. */
function steppingClock(step: number): () => number {
  let t = 0;
  return () => (t += step);
}

Deno.test("liveness: a leader whose every dial fails is gone; the address is read before each dial", async () => {
  const hosts = ["10.0.0.2", "10.0.0.2", "10.0.0.9", "10.0.0.9", "10.0.0.9", "10.0.0.9"];
  const dialed: string[] = [];
  let i = 0;
  const gone = await leaderGone({
    address: () => Promise.resolve(hosts[Math.min(i++, hosts.length - 1)]),
    port: 7835,
    signal: new AbortController().signal,
    dial: (host, port, timeout) => {
      assert.equal(port, 7835);
      assert.ok(timeout > 0);
      dialed.push(host);
      return Promise.resolve(false);
    },
    now: steppingClock(PROBE_EVERY_MS),
  });
  assert.equal(gone, true);
  assert.ok(dialed.length >= DEAD_AFTER_FAILURES);
  assert.deepEqual(dialed.slice(0, 3), ["10.0.0.2", "10.0.0.2", "10.0.0.9"]);
});

Deno.test("liveness: a leader whose address is unknown is never judged; abort ends the watch", async () => {
  const ac = new AbortController();
  let reads = 0;
  let dials = 0;
  const gone = await leaderGone({
    address: () => {
      if (++reads === 50) ac.abort();
      return Promise.resolve(undefined);
    },
    signal: ac.signal,
    dial: () => {
      dials++;
      return Promise.resolve(false);
    },
    now: steppingClock(PROBE_EVERY_MS),
  });
  assert.equal(gone, false);
  assert.equal(dials, 0);
  assert.equal(reads, 50);
});

Deno.test("liveness: a leader that answers now and then is not gone", async () => {
  const ac = new AbortController();
  let n = 0;
  const gone = await leaderGone({
    address: () => Promise.resolve("10.0.0.2"),
    signal: ac.signal,
    // Fails DEAD_AFTER_FAILURES - 1 times out of every DEAD_AFTER_FAILURES.
    dial: () => {
      if (++n === 100) ac.abort();
      return Promise.resolve(n % DEAD_AFTER_FAILURES === 0);
    },
    now: steppingClock(10 * DEAD_AFTER_MS),
  });
  assert.equal(gone, false);
  assert.equal(n, 100);
});
