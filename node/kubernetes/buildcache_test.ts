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
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cache lock: a lock file left by a dead process does not block; a failed build releases the lock", async () => {
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
    assert.equal(await withCacheLock(dir, "test", () => Promise.resolve(8), 10), 8);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cache lock: a build in another process waits for the holder, however young its lock", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/gvisor/g1`;
    const mod = new URL("./buildcache.ts", import.meta.url).href;
    // The child takes the lock, says so, and holds it for 300 ms.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const { withCacheLock } = await import(${JSON.stringify(mod)});
         await withCacheLock(${JSON.stringify(dir)}, "child", async () => {
           console.log("locked");
           await new Promise((r) => setTimeout(r, 300));
         }, 10);`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.match((await reader.read()).value ?? "", /locked/);
    const t0 = performance.now();
    await withCacheLock(dir, "test", () => Promise.resolve(), 10);
    assert.ok(performance.now() - t0 >= 200, "waited for the child's build");
    reader.releaseLock();
    assert.ok((await child.status).success);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
