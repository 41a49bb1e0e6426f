/**
 * Builds the `kube` multicall binary (kubernetes.md §2) with Go 1.23 from the Go module proxy
 * into `${cache}/metropolis/kube/<hash>/kube`, keyed by go.mod, go.sum, main.go and the Go
 * version; a cached binary is reused. Module and build caches live under
 * `${cache}/metropolis/go/{mod,build}` so even a changed main.go rebuilds warm.
 *
 * Usage as a script: `deno run -A node/kubernetes/hyperkube/build.ts` prints the binary path.
 */
import { cacheDir, cacheRoot, exists, hashInputs, run, withCacheLock } from "../buildcache.ts";

/** The Go toolchain used (golang-1.23-go from bookworm-backports, installed by .ci/setup). */
export const GO = "/usr/lib/go-1.23/bin/go";

const HERE = new URL(".", import.meta.url).pathname;

/** Reads the pinned Kubernetes version (`k8s.io/kubernetes vX.Y.Z` requirement) from go.mod. */
export function kubeVersion(goMod: string): string {
  const m = goMod.match(/^\s*(?:require\s+)?k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\s*$/m);
  if (!m) throw new Error("hyperkube: go.mod lacks a `k8s.io/kubernetes vX.Y.Z` requirement");
  return m[1];
}

/** Environment of a build with {@link GO}: the project's module and build caches, no cgo. */
export function goEnv(): Record<string, string> {
  const go = `${cacheRoot()}/go`;
  return {
    ...Deno.env.toObject(),
    PATH: `/usr/lib/go-1.23/bin:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    GOMODCACHE: `${go}/mod`,
    GOCACHE: `${go}/build`,
    GOFLAGS: "-mod=mod",
    GOTOOLCHAIN: "local",
    CGO_ENABLED: "0",
  };
}

/** The -ldflags stamping the version the way upstream's release build does. */
async function ldflags(version: string, env: Record<string, string>): Promise<string> {
  const [, major, minor] = version.match(/^v(\d+)\.(\d+)/)!;
  // The release date of the pinned module from the proxy's .info, for a reproducible buildDate.
  let date = "1970-01-01T00:00:00Z";
  try {
    const info = JSON.parse(
      await Deno.readTextFile(
        `${env.GOMODCACHE}/cache/download/k8s.io/kubernetes/@v/${version}.info`,
      ),
    );
    if (typeof info.Time === "string") date = info.Time;
  } catch { /* not downloaded yet: keep the epoch */ }
  const flags = ["-s", "-w"];
  for (const p of ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]) {
    flags.push(
      `-X ${p}.gitVersion=${version}`,
      `-X ${p}.gitMajor=${major}`,
      `-X ${p}.gitMinor=${minor}`,
      `-X ${p}.gitTreeState=clean`,
      `-X ${p}.buildDate=${date}`,
    );
  }
  return flags.join(" ");
}

/**
 * Runs `go <args>` at `nice` level `niceLevel` with its output on the console and a progress line
 * every 60 s (cold builds take minutes); throws when go fails. `label` prefixes the lines.
 */
export async function goBuild(
  label: string,
  niceLevel: number,
  args: string[],
  o: { cwd: string; env: Record<string, string>; start: number },
): Promise<void> {
  const child = new Deno.Command("nice", {
    args: ["-n", String(niceLevel), GO, ...args],
    cwd: o.cwd,
    env: o.env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const tick = setInterval(() => {
    const min = ((performance.now() - o.start) / 60000).toFixed(1);
    console.log(`${label}: still building (${min} min)`);
  }, 60000);
  const status = await child.status.finally(() => clearInterval(tick));
  if (!status.success) throw new Error(`${label}: go build failed (exit ${status.code})`);
}

/**
 * Returns the path of the cached `kube` binary, building it first if go.mod, go.sum, main.go or
 * the Go version changed. Prints progress (a cold build took 588 s on 2 shared cores).
 */
export async function buildKube(): Promise<string> {
  if (!(await exists(GO))) throw new Error(`hyperkube: ${GO} missing (run .ci/setup)`);
  const env = goEnv();
  const goVersion = (await run(GO, ["version"], { env })).trim();
  const goMod = await Deno.readTextFile(`${HERE}go.mod`);
  const version = kubeVersion(goMod);
  const key = await hashInputs([
    goMod,
    await Deno.readFile(`${HERE}go.sum`),
    await Deno.readFile(`${HERE}main.go`),
    goVersion,
  ]);
  const dir = cacheDir("kube", key);
  const out = `${dir}/kube`;
  if (await exists(out)) {
    console.log(`kube: Kubernetes ${version}, cached ${out}`);
    return out;
  }
  return await withCacheLock(dir, "kube", async () => {
    if (await exists(out)) return out;
    await Deno.mkdir(dir, { recursive: true });
    console.log(`kube: building Kubernetes ${version} with ${goVersion} into ${out}`);
    console.log("kube: a cold build takes 10-40 min on 2 shared cores; progress every 60 s");
    const start = performance.now();
    await goBuild("kube", 10, [
      "build",
      "-p",
      "2",
      "-trimpath",
      "-ldflags",
      await ldflags(version, env),
      "-o",
      `${out}.tmp`,
      ".",
    ], { cwd: HERE, env, start });
    await Deno.rename(`${out}.tmp`, out);
    const secs = (performance.now() - start) / 1000;
    const size = (await Deno.stat(out)).size;
    await Deno.writeTextFile(
      `${dir}/build.json`,
      JSON.stringify({ version, goVersion, seconds: Math.round(secs), bytes: size }) + "\n",
    );
    console.log(`kube: built in ${secs.toFixed(0)} s, ${(size / 1e6).toFixed(1)} MB`);
    return out;
  });
}

if (import.meta.main) {
  console.log(await buildKube());
}
