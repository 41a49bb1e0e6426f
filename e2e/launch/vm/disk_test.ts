import assert from "node:assert/strict";
import { blankDisk } from "./disk.ts";

Deno.test("blankDisk: a sparse, all-zero disk of the size asked for, replacing an old one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "launch-blankdisk-" });
  try {
    const p = `${dir}/disk.img`;
    await Deno.writeTextFile(p, "old contents");
    await blankDisk(p, 9216);
    const st = await Deno.stat(p);
    assert.equal(st.size, 9216 * 2 ** 20);
    assert.ok((st.blocks ?? 0) * 512 < 2 ** 20, "nothing allocated");
    const head = new Uint8Array(64);
    using f = await Deno.open(p);
    await f.read(head);
    assert.ok(head.every((b) => b === 0));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
