/** Tier 1: the agent bundle's source post-processing (bundle.ts). */
import assert from "node:assert/strict";
import { AGENT_DENO_ARGS } from "../../node/base/osimage/agent.ts";
import { exists } from "../lib/exec.ts";
import { AGENT_CHUNK, bundleOne, bundleSplit, latin1Source, REQUIRE_SHIM } from "./bundle.ts";

/**
 * Runs the bundle `js` with `denoArgs` (default: without the repository's config); its stdout,
 * trimmed (fails on exit ≠ 0).
 */
async function runBundled(
  js: string,
  denoArgs: readonly string[] = ["run", "-A", "--no-config"],
): Promise<string> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [...denoArgs, js],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const td = new TextDecoder();
  assert.ok(r.success, td.decode(r.stderr));
  return td.decode(r.stdout).trim();
}

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

Deno.test({
  name: "bundleOne minified: CommonJS packages still load (require shim) and names are kept",
  sanitizeOps: false, // grpc-js starts timers when loaded
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "bundle-min-" });
    try {
      const entry = `${dir}/entry.ts`;
      await Deno.writeTextFile(
        entry,
        [
          'import * as grpc from "@grpc/grpc-js";',
          "class NamedThing {}",
          "console.log(typeof grpc.Server, new NamedThing().constructor.name);",
        ].join("\n"),
      );
      const out = `${dir}/out.js`;
      await bundleOne(entry, out, { minify: true });
      assert.ok((await Deno.readTextFile(out)).startsWith(REQUIRE_SHIM));
      assert.equal(await runBundled(out), "function NamedThing");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "bundleSplit: a dynamic import becomes a chunk, loaded only when imported",
  sanitizeOps: false, // grpc-js starts timers when loaded
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "bundle-split-" });
    try {
      await Deno.writeTextFile(
        `${dir}/lazy.ts`,
        'import * as grpc from "@grpc/grpc-js";\nexport const kind = typeof grpc.Server;\n',
      );
      await Deno.writeTextFile(
        `${dir}/entry.ts`,
        [
          "class NamedThing {}",
          'const { kind } = await import("./lazy.ts");',
          "console.log(kind, new NamedThing().constructor.name);",
        ].join("\n"),
      );
      const { entryJs, chunks } = await bundleSplit(`${dir}/entry.ts`, `${dir}/out`);
      assert.equal(entryJs, "entry.js");
      assert.ok(chunks.length >= 1 && chunks.every((c) => AGENT_CHUNK.test(c)), `${chunks}`);
      const main = await Deno.readTextFile(`${dir}/out/entry.js`);
      assert.ok(main.startsWith(REQUIRE_SHIM));
      assert.ok(!main.includes("grpc.max_"), "grpc-js stays out of the entry");
      // Run under another name, as the agent runs as agent.js.
      await Deno.rename(`${dir}/out/entry.js`, `${dir}/out/agent.js`);
      assert.equal(await runBundled(`${dir}/out/agent.js`), "function NamedThing");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "bundleSplit: the chunks are read when the agent starts, so a later import() needs no file",
  // A namespace node pivots into a root without the bundle's host directory before a role's chunk
  // is imported (node/core/platform/root_plan.ts): Deno must hold every chunk in its module graph
  // from start-up. Here the entry renames its chunks away first, as the pivot hides them.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "bundle-split-graph-" });
    try {
      await Deno.writeTextFile(`${dir}/role.ts`, 'export const role = "role loaded";\n');
      await Deno.writeTextFile(
        `${dir}/nested.ts`,
        'export const { role } = await import("./role.ts");\n',
      );
      await Deno.writeTextFile(
        `${dir}/entry.ts`,
        [
          "const here = new URL('.', import.meta.url).pathname;",
          "for (const e of Deno.readDirSync(here)) {",
          "  if (e.name !== 'agent.js') Deno.renameSync(here + e.name, here + e.name + '.gone');",
          "}",
          'const { role } = await import("./nested.ts");',
          "console.log(role);",
        ].join("\n"),
      );
      const { chunks } = await bundleSplit(`${dir}/entry.ts`, `${dir}/out`);
      assert.ok(chunks.length >= 2, `a chunk per import(): ${chunks}`);
      await Deno.rename(`${dir}/out/entry.js`, `${dir}/out/agent.js`);
      // With the agent's exact Deno arguments.
      assert.equal(await runBundled(`${dir}/out/agent.js`, AGENT_DENO_ARGS), "role loaded");
      for (const c of chunks) assert.ok(!(await exists(`${dir}/out/${c}`)), `${c} was moved away`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
