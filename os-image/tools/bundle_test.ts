/** Tier 1: the agent bundle's source post-processing (bundle.ts). */
import assert from "node:assert/strict";
import { latin1Source } from "./bundle.ts";

Deno.test("latin1Source: only Latin-1 characters remain, and the code means the same", () => {
  const src = [
    "// a comment → with arrows ≤ and ✓",
    'const s = "café → ≤ 😀";',
    "const t = `tpl ${1 + 1} →`;",
    "const r = /[→≤]/.test('≤');",
    "const été = 1;",
    "export default [s, t, r, été, s.length];",
  ].join("\n");
  const out = latin1Source(src);
  assert.ok([...out].every((c) => c.charCodeAt(0) <= 0xff), out);
  assert.ok(out.includes("café"), "Latin-1 characters are kept as they are");
  const run = (code: string) =>
    import(`data:text/javascript;base64,${btoa(unescape(encodeURIComponent(code)))}`);
  return Promise.all([run(src), run(out)]).then(([a, b]) => {
    assert.deepEqual(b.default, a.default);
    assert.deepEqual(a.default, ["café → ≤ 😀", "tpl 2 →", true, 1, 11]);
  });
});
