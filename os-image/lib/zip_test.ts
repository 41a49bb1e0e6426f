import assert from "node:assert/strict";
import { crc32, writeZip } from "./zip.ts";

Deno.test("crc32 matches the IEEE check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

Deno.test("writeZip output is sorted, 1980-dated and accepted by unzip", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mkimg-zip-" });
  try {
    await Deno.writeTextFile(`${dir}/b`, "bee\n");
    await Deno.writeTextFile(`${dir}/a`, "a".repeat(10000));
    await writeZip(`${dir}/one.zip`, { "z.txt": `${dir}/b`, "a.bin": `${dir}/a` });
    await writeZip(`${dir}/two.zip`, { "a.bin": `${dir}/a`, "z.txt": `${dir}/b` });
    assert.deepEqual(await Deno.readFile(`${dir}/one.zip`), await Deno.readFile(`${dir}/two.zip`));
    const out = await new Deno.Command("unzip", { args: ["-Z", "-T", `${dir}/one.zip`] }).output();
    assert.ok(out.success);
    const lines = new TextDecoder().decode(out.stdout).split("\n").filter((l) => /^-/.test(l));
    assert.equal(lines.length, 2);
    assert.match(lines[0], /19800101\.000000 a\.bin$/);
    assert.match(lines[1], /19800101\.000000 z\.txt$/);
    const t = await new Deno.Command("unzip", { args: ["-tq", `${dir}/one.zip`] }).output();
    assert.ok(t.success, new TextDecoder().decode(t.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
