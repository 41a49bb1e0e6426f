import assert from "node:assert/strict";
import { withCacheLock } from "./buildcache.ts";

Deno.test("cache lock: two builds of the same thing run one after the other", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/kube/abc`;
    const events: string[] = [];
    const build = (name: string) =>
      withCacheLock(dir, "test", async () => {
        events.push(`${name} start`);
        await new Promise((r) => setTimeout(r, 50));
        events.push(`${name} end`);
        return name;
      }, 10);
    assert.deepEqual(await Promise.all([build("a"), build("b")]), ["a", "b"]);
    // Whichever took the lock first ran alone to its end.
    const [x, y] = [events[0][0], events[2][0]];
    assert.notEqual(x, y);
    assert.deepEqual(events, [`${x} start`, `${x} end`, `${y} start`, `${y} end`]);
    await assert.rejects(Deno.stat(`${dir}.lock`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cache lock: the lock of a dead process is taken over; a failed build releases it", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/kernel/k1`;
    await Deno.mkdir(`${root}/kernel`);
    await Deno.writeTextFile(`${dir}.lock`, "999999999\n");
    assert.equal(await withCacheLock(dir, "test", () => Promise.resolve(7), 10), 7);
    await assert.rejects(
      withCacheLock(dir, "test", () => Promise.reject(new Error("boom")), 10),
      /boom/,
    );
    await assert.rejects(Deno.stat(`${dir}.lock`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
