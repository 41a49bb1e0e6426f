/**
 * Builds the bench's Kubernetes client (main.go beside this file, standard library only) with the
 * project's Go toolchain into `${cache}/metropolis/bench-kubeclient/<hash>/kubeclient`, keyed by
 * main.go and the Go version; a cached binary is reused (a cold build takes ≈ 30 s).
 */
import { cacheDir, exists, hashInputs, run } from "../../../node/kubernetes/buildcache.ts";
import { GO, goEnv } from "../../../node/kubernetes/hyperkube/build.ts";

const SOURCE = new URL("./main.go", import.meta.url).pathname;

/** Path of the built client, building it first when main.go or the Go version changed. */
export async function buildKubeClient(): Promise<string> {
  if (!(await exists(GO))) throw new Error(`kubeclient: ${GO} missing (run .ci/setup)`);
  const env = goEnv();
  const goVersion = (await run(GO, ["version"], { env })).trim();
  const key = await hashInputs([await Deno.readFile(SOURCE), goVersion]);
  const dir = cacheDir("bench-kubeclient", key);
  const out = `${dir}/kubeclient`;
  if (await exists(out)) return out;
  await Deno.mkdir(dir, { recursive: true });
  await run(GO, ["build", "-trimpath", "-o", `${out}.tmp`, SOURCE], { env, cwd: dir });
  await Deno.rename(`${out}.tmp`, out);
  return out;
}

if (import.meta.main) {
  console.log(await buildKubeClient());
}
