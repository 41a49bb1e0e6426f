import assert from "node:assert/strict";
import { closeFile } from "./close.ts";

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
