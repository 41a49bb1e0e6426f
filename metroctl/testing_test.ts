import assert from "node:assert/strict";
import { runMetroctl } from "./testing.ts";

Deno.test("runMetroctl hands each stderr line to onStderrLine and still returns all of stderr", async () => {
  const dir = await Deno.makeTempDir({ prefix: "metroctl-testing-" });
  try {
    const lines: string[] = [];
    // An unreachable registry (a warning) and then no endpoints (the error): two stderr lines.
    const r = await runMetroctl([
      `--config=${dir}`,
      "node",
      "update",
      "all",
      "--image-ref",
      `http://127.0.0.1:9/x@sha256:${"0".repeat(64)}`,
    ], { onStderrLine: (l) => lines.push(l) });
    assert.notEqual(r.code, 0);
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0], /^warning: registry 127\.0\.0\.1:9 unreachable/);
    assert.match(lines[1], /no cluster endpoints/);
    assert.equal(r.stderr, lines.join("\n") + "\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
