/**
 * Builds the static `pause` binary (sandbox process of every pod) with `gcc -static` into the
 * build cache, keyed by pause.c and the gcc version.
 */
import { cacheDir, exists, hashInputs, run } from "../buildcache.ts";

const SRC = new URL("./pause.c", import.meta.url).pathname;

/** Returns the path of the cached static pause binary, building it if needed. */
export async function buildPause(): Promise<string> {
  const gcc = await run("gcc", ["--version"]).catch((e) => {
    throw new Error(`pause: gcc not usable (run .ci/setup): ${e.message}`);
  });
  const key = await hashInputs([await Deno.readFile(SRC), gcc]);
  const dir = cacheDir("pause", key);
  const out = `${dir}/pause`;
  if (await exists(out)) return out;
  console.log(`pause: building ${out}`);
  await Deno.mkdir(dir, { recursive: true });
  await run("gcc", ["-static", "-Os", "-s", "-o", `${out}.tmp`, SRC]);
  await Deno.rename(`${out}.tmp`, out);
  return out;
}
