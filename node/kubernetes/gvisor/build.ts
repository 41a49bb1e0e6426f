/**
 * Builds gVisor's `runsc` and `containerd-shim-runsc-v1` (kubernetes.md §6, RuntimeClass
 * `gvisor`) from the Go module pinned in go.mod beside this file into
 * `${cache}/metropolis/gvisor/<hash>/`, keyed by go.mod, go.sum, the link flags and the Go
 * version; cached binaries are reused. Module and build caches are the kube build's
 * (`${cache}/metropolis/go/{mod,build}`, see hyperkube/build.ts).
 *
 * gVisor needs a newer Go than the project's Go 1.23: go.mod's `toolchain` line names it, and the
 * Go 1.23 command fetches that toolchain from the Go module proxy (`golang.org/toolchain`, into
 * the module cache) on first use. Both binaries are static (`CGO_ENABLED=0`): runsc re-executes
 * itself inside an empty chroot where no dynamic loader exists.
 *
 * Usage as a script: `deno run -A node/kubernetes/gvisor/build.ts` prints the output directory.
 * @module
 */
import { cacheDir, exists, hashInputs, run } from "../buildcache.ts";
import { GO, goEnv } from "../hyperkube/build.ts";

const HERE = new URL(".", import.meta.url).pathname;

/** The gVisor module. */
export const GVISOR_MODULE = "gvisor.dev/gvisor";

/** Output file name → Go package of each binary. */
export const GVISOR_BINARIES: Readonly<Record<string, string>> = {
  "runsc": `${GVISOR_MODULE}/runsc`,
  "containerd-shim-runsc-v1": `${GVISOR_MODULE}/shim`,
};

/** The pins of go.mod: the gVisor module version and the Go toolchain that builds it. */
export function gvisorPins(goMod: string): { version: string; toolchain: string } {
  const v = goMod.match(/^\s*(?:require\s+)?gvisor\.dev\/gvisor (v\S+)(?:\s+\/\/.*)?$/m);
  if (!v) throw new Error("gvisor: go.mod lacks a `gvisor.dev/gvisor <version>` requirement");
  const t = goMod.match(/^toolchain (go\d+\.\d+(?:\.\d+)?)\s*$/m);
  if (!t) throw new Error("gvisor: go.mod lacks a `toolchain goX.Y.Z` line");
  return { version: v[1], toolchain: t[1] };
}

/** The `go build` arguments writing every binary of {@link GVISOR_BINARIES} into `outDir`. */
export function gvisorBuildArgs(version: string, outDir: string): string[] {
  return [
    "build",
    "-p",
    "2",
    "-trimpath",
    "-ldflags",
    `-s -w -X ${GVISOR_MODULE}/runsc/version.version=${version}`,
    "-o",
    `${outDir}/`,
    ...Object.values(GVISOR_BINARIES),
  ];
}

/** Paths of the built binaries by file name (see {@link GVISOR_BINARIES}). */
export type GvisorBinaries = Record<keyof typeof GVISOR_BINARIES, string>;

/**
 * Returns the cached binaries, building them first if go.mod, go.sum or the toolchain changed.
 * Prints progress (a cold build took about 20 min on 2 shared cores, see README.md).
 */
export async function buildGvisor(): Promise<GvisorBinaries> {
  if (!(await exists(GO))) throw new Error(`gvisor: ${GO} missing (run .ci/setup)`);
  const goMod = await Deno.readTextFile(`${HERE}go.mod`);
  const { version, toolchain } = gvisorPins(goMod);
  const env = { ...goEnv(), GOTOOLCHAIN: toolchain };
  const goVersion = (await run(GO, ["version"], { env, cwd: HERE })).trim();
  const key = await hashInputs([
    goMod,
    await Deno.readFile(`${HERE}go.sum`),
    gvisorBuildArgs(version, "").join(" "),
    goVersion,
  ]);
  const dir = cacheDir("gvisor", key);
  const out = Object.fromEntries(
    Object.keys(GVISOR_BINARIES).map((n) => [n, `${dir}/${n}`]),
  ) as GvisorBinaries;
  const present = await Promise.all(Object.values(out).map(exists));
  if (present.every((p) => p)) {
    console.log(`gvisor: ${version}, cached in ${dir}`);
    return out;
  }
  const tmp = `${dir}/tmp`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp, { recursive: true });
  console.log(`gvisor: building ${GVISOR_MODULE} ${version} with ${goVersion} into ${dir}`);
  console.log("gvisor: a cold build takes about 20 min on 2 shared cores; progress every 60 s");
  const start = performance.now();
  const child = new Deno.Command("nice", {
    args: ["-n", "19", GO, ...gvisorBuildArgs(version, tmp)],
    cwd: HERE,
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const tick = setInterval(() => {
    const min = ((performance.now() - start) / 60000).toFixed(1);
    console.log(`gvisor: still building (${min} min)`);
  }, 60000);
  const status = await child.status.finally(() => clearInterval(tick));
  if (!status.success) throw new Error(`gvisor: go build failed (exit ${status.code})`);
  // `go build -o dir/` names each binary after its package's last element.
  for (const [name, pkg] of Object.entries(GVISOR_BINARIES)) {
    await Deno.rename(`${tmp}/${pkg.replace(/^.*\//, "")}`, out[name]);
  }
  await Deno.remove(tmp, { recursive: true });
  const secs = (performance.now() - start) / 1000;
  await Deno.writeTextFile(
    `${dir}/build.json`,
    JSON.stringify({ version, goVersion, seconds: Math.round(secs) }) + "\n",
  );
  console.log(`gvisor: built in ${secs.toFixed(0)} s`);
  return out;
}

if (import.meta.main) {
  console.log(Object.values(await buildGvisor()).join("\n"));
}
