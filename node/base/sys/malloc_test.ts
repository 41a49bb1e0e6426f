/** mallocTrim: memory freed inside glibc's arenas goes back to the kernel. */
import assert from "node:assert/strict";

Deno.test("mallocTrim returns freed, fragmented arena memory to the kernel", async () => {
  const script = new URL("./testdata/malloc_trim.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(r.released, true);
  // 128 MiB were freed; without the trim glibc keeps nearly all of it resident.
  assert.ok(r.before - r.after > 64, `VmRSS ${r.before} -> ${r.after} MiB`);
});
