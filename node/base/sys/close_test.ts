import assert from "node:assert/strict";
import { closeFile } from "./close.ts";

const ROOT = new URL("../../..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("closeFile closes a file, and one its readable already closed is not an error", async () => {
  const p = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(p, "x");
    const f = await Deno.open(p);
    for await (const _ of f.readable) { /* read to the end: the stream closes the file */ }
    closeFile(f);
    const g = await Deno.open(p);
    closeFile(g);
    assert.throws(() => g.close(), Deno.errors.BadResource);
  } finally {
    await Deno.remove(p);
  }
});

/** `.ts` files below `dir`, tests and test helpers excluded. */
async function shipped(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}/${dir}`)) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory && e.name !== "dist" && e.name !== "testdata") {
      out.push(...await shipped(rel));
    } else if (e.isFile && e.name.endsWith(".ts") && !/(_test|testing)\.ts$/.test(e.name)) {
      out.push(rel);
    }
  }
  return out;
}

Deno.test("shipped code declares no `using` variables (the minified agent bundle can drop their disposal)", async () => {
  const offenders: string[] = [];
  for (const f of [...await shipped("node"), ...await shipped("metroctl")]) {
    const lines = (await Deno.readTextFile(`${ROOT}/${f}`)).split("\n");
    lines.forEach((l, i) => {
      if (/^\s*(await\s+)?using\s+[A-Za-z_$][\w$]*\s*=/.test(l)) offenders.push(`${f}:${i + 1}`);
    });
  }
  assert.deepEqual(offenders, [], `close files in a finally block instead (see close.ts)`);
});
