/**
 * Builds the bench's Go client (the .go files beside this file, standard library only) with the
 * project's Go toolchain into `${cache}/metropolis/bench-kubeclient/<hash>/kubeclient`, keyed by
 * those files and the Go version; a cached binary is reused (a cold build takes ≈ 30 s).
 */
import { cacheDir, exists, hashInputs, run } from "../../../node/kubernetes/buildcache.ts";
import { GO, goEnv } from "../../../node/kubernetes/hyperkube/build.ts";

const DIR = new URL(".", import.meta.url).pathname;

/** The package's source files (tests aside), sorted so that the cache key is stable. */
function sources(): string[] {
  return [...Deno.readDirSync(DIR)]
    .map((e) => e.name)
    .filter((f) => f.endsWith(".go") && !f.endsWith("_test.go"))
    .sort()
    .map((f) => DIR + f);
}

/** Path of the built client, building it first when a source file or the Go version changed. */
export async function buildKubeClient(): Promise<string> {
  if (!(await exists(GO))) throw new Error(`kubeclient: ${GO} missing (run .ci/setup)`);
  const env = goEnv();
  const goVersion = (await run(GO, ["version"], { env })).trim();
  const files = sources();
  // Each file's name goes into the key too: a rename alone changes the program.
  const inputs = await Promise.all(
    files.map(async (f) => [f.slice(DIR.length), await Deno.readFile(f)] as const),
  );
  const key = await hashInputs([...inputs.flat(), goVersion]);
  const dir = cacheDir("bench-kubeclient", key);
  const out = `${dir}/kubeclient`;
  if (await exists(out)) return out;
  await Deno.mkdir(dir, { recursive: true });
  await run(GO, ["build", "-trimpath", "-o", `${out}.tmp`, ...files], { env, cwd: dir });
  await Deno.rename(`${out}.tmp`, out);
  return out;
}

if (import.meta.main) {
  console.log(await buildKubeClient());
}
