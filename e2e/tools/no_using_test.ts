/**
 * Shipped code (`node/`, `metroctl/`) declares no `using` variables: the agent's bundle is
 * minified by esbuild, which drops the disposal of a `using` variable read once (see
 * node/base/sys/close.ts). Tests and test helpers may use it; they run from source.
 */
import assert from "node:assert/strict";
import { findFiles } from "../run.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("shipped code declares no `using` variables (the minified agent bundle can drop their disposal)", async () => {
  const shipped = await findFiles(
    ROOT,
    (f) =>
      (f.startsWith("node/") || f.startsWith("metroctl/")) && f.endsWith(".ts") &&
      !f.includes("/testdata/") && !/(_test|testing)\.ts$/.test(f),
  );
  assert.ok(shipped.includes("node/main.ts"), "the walk found the agent's sources");
  const offenders: string[] = [];
  for (const f of shipped) {
    const lines = (await Deno.readTextFile(`${ROOT}/${f}`)).split("\n");
    lines.forEach((l, i) => {
      if (/^\s*(await\s+)?using\s+[A-Za-z_$][\w$]*\s*=/.test(l)) offenders.push(`${f}:${i + 1}`);
    });
  }
  assert.deepEqual(offenders, [], `close files in a finally block instead (see close.ts)`);
});
