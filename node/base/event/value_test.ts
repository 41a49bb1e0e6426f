import assert from "node:assert/strict";
import { Value } from "./value.ts";

Deno.test("Value: get/set, watcher sees the current value first, then every change", async () => {
  const v = new Value<number>();
  assert.equal(v.get(), undefined);
  assert.equal(v.isSet, false);
  const early = v.watch();
  v.set(1);
  const late = v.watch();
  v.set(2);
  v.set(3);
  assert.equal(v.get(), 3);
  assert.deepEqual([await early.next(), await early.next(), await early.next()], [1, 2, 3]);
  assert.deepEqual([await late.next(), await late.next(), await late.next()], [1, 2, 3]);
  early.close();
  late.close();
  assert.equal(v.watcherCount, 0);
});

Deno.test("Value: a pending next() resolves on set and rejects on close", async () => {
  const v = new Value<string>("a");
  const w = v.watch();
  assert.equal(await w.next(), "a");
  const p = w.next();
  v.set("b");
  assert.equal(await p, "b");
  const q = w.next();
  w.close();
  await assert.rejects(q, /watcher closed/);
  assert.ok(w.closed);
});

Deno.test("Value: async iteration ends when the abort signal fires", async () => {
  const v = new Value<number>(0);
  const ac = new AbortController();
  const seen: number[] = [];
  const done = (async () => {
    for await (const x of v.watch({ signal: ac.signal })) {
      seen.push(x);
      if (x === 2) ac.abort();
    }
  })();
  for (let i = 1; i <= 3; i++) {
    await new Promise((r) => setTimeout(r, 1));
    v.set(i);
  }
  await done;
  assert.deepEqual(seen, [0, 1, 2]);
  assert.equal(v.watcherCount, 0);
  assert.ok(v.watch({ signal: ac.signal }).closed, "watch with an aborted signal is closed");
});

Deno.test("Value.waitFor returns the first matching value and honours abort", async () => {
  const v = new Value<{ role: string }>();
  const p = v.waitFor((x) => x.role === "controlplane");
  v.set({ role: "worker" });
  v.set({ role: "controlplane" });
  assert.deepEqual(await p, { role: "controlplane" });
  assert.equal(v.watcherCount, 0);
  const ac = new AbortController();
  const q = v.waitFor((x) => x.role === "never", ac.signal);
  ac.abort(new Error("stop"));
  await assert.rejects(q, /stop/);
});
