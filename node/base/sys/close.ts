/**
 * Closing files without `using`. Shipped code closes files in `finally` blocks: the agent's
 * bundle is minified by esbuild (`deno bundle --minify`), which turns a `using` variable read
 * once (`using d = await Deno.open(p); await d.sync();`) into `await (await Deno.open(p)).sync()`
 * and drops the disposal (evanw/esbuild#4482; Deno 2.9.6 bundles an esbuild with it) — every
 * call leaked a descriptor, and the directories the durable writes fsynced kept /data and /esp
 * busy at power-off. e2e/tools/no_using_test.ts enforces the rule.
 * @module
 */

/** Closes `f`; a file its `readable` already closed (at end of stream) is not an error. */
export function closeFile(f: Deno.FsFile): void {
  try {
    f.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}
