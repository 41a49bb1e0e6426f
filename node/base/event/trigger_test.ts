import assert from "node:assert/strict";
import { Trigger } from "./trigger.ts";
import { Value } from "./value.ts";

Deno.test("trigger: first wait returns at once, then once per burst of fires", async () => {
  const t = new Trigger();
  const ac = new AbortController();
  await t.wait(ac.signal);
  let woke = 0;
  const waiting = t.wait(ac.signal).then(() => woke++);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(woke, 0, "no fire, no wake-up");
  t.fire();
  t.fire();
  await waiting;
  assert.equal(woke, 1);
  const again = t.wait(ac.signal).then(() => woke++);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(woke, 1, "the burst was consumed by one wait");
  ac.abort();
  await again;
});

Deno.test("trigger: follows value changes", async () => {
  const t = new Trigger();
  const ac = new AbortController();
  const a = new Value<number>(1);
  const b = new Value<string>();
  t.follow([a, b], ac.signal);
  await t.wait(ac.signal);
  await new Promise((r) => setTimeout(r, 5)); // the initial value of `a` fires once
  await t.wait(ac.signal);
  const next = t.wait(ac.signal);
  b.set("x");
  await next;
  ac.abort();
});
