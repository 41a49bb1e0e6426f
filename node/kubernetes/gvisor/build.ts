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
 * Two source patches ({@link PATCHES}; no copy of any module in the repository: the build copies
 * each patched module from the module cache into its work directory, patches it there and builds
 * with a `replace` to it — `go build -overlay` refuses files below GOMODCACHE), both so that the
 * shim runs under the nodes' containerd 1.6 and on namespace nodes:
 * - the shim lowers its daemon's oom_score_adj to -999 and gives up when the kernel refuses.
 *   Lowering a score needs CAP_SYS_RESOURCE, which namespace nodes under a restricted launcher
 *   lack (WorkerHost.restrictOomScoreAdj); containerd's own runc shim only copies containerd's
 *   score. Patched, the shim keeps the score it inherited from containerd when the write is
 *   refused for lack of permission, and fails on any other error as before;
 * - the shim library of containerd 2 (which gVisor's shim is built on) answers `start` with JSON
 *   bootstrap parameters, which containerd 1.6 takes for the socket address (`dial unix
 *   {"version":2,…}: invalid argument`). Patched, a ttrpc shim prints its bare address, the form
 *   every containerd accepts (1.7 and later read it as version 2, ttrpc). The nodes now run
 *   containerd 2 (../containerd/build.ts), which needs no patch; kept as harmless (see README).
 *
 * Usage as a script: `deno run -A node/kubernetes/gvisor/build.ts` prints the output directory.
 * @module
 */
import { cacheDir, exists, hashInputs, run, withCacheLock } from "../buildcache.ts";
import { GO, goBuild, goEnv } from "../hyperkube/build.ts";

const HERE = new URL(".", import.meta.url).pathname;

/** The gVisor module. */
export const GVISOR_MODULE = "gvisor.dev/gvisor";

/** Output file name → Go package of each binary. */
export const GVISOR_BINARIES: Readonly<Record<string, string>> = {
  "runsc": `${GVISOR_MODULE}/runsc`,
  "containerd-shim-runsc-v1": `${GVISOR_MODULE}/shim`,
};

/** A textual source patch of one file of a Go module (see the module comment). */
export interface SourcePatch {
  /** Module path (its version is go.mod's). */
  module: string;
  /** Path inside the module. */
  file: string;
  /** Exact text replaced; must occur exactly once. */
  from: string;
  to: string;
}

/** The patches (see the module comment). */
export const PATCHES: readonly SourcePatch[] = [{
  module: GVISOR_MODULE,
  file: "pkg/shim/v1/manager.go",
  from: "\tif err := sys.SetOOMScore(cmd.Process.Pid, oomScoreMax); err != nil {\n",
  to: "\t// Metropolis: without CAP_SYS_RESOURCE keep the score inherited from containerd.\n" +
    "\tif err := sys.SetOOMScore(cmd.Process.Pid, oomScoreMax); err != nil && !os.IsPermission(err) {\n",
}, {
  module: "github.com/containerd/containerd/v2",
  file: "pkg/shim/shim.go",
  from: '\t\t\treturn fmt.Errorf("failed to marshal bootstrap params to json: %w", err)\n\t\t}\n',
  to: '\t\t\treturn fmt.Errorf("failed to marshal bootstrap params to json: %w", err)\n\t\t}\n' +
    "\t\t// Metropolis: containerd 1.6 reads a bare address; later ones accept it as ttrpc.\n" +
    '\t\tif params.Protocol == "ttrpc" {\n\t\t\tdata = []byte(params.Address)\n\t\t}\n',
}];

/** Applies `patch` to `src`; throws unless `patch.from` occurs exactly once. */
export function applyPatch(src: string, patch: SourcePatch): string {
  const parts = src.split(patch.from);
  if (parts.length !== 2) {
    throw new Error(
      `gvisor: patch of ${patch.file} expects its text once, found ${parts.length - 1} times`,
    );
  }
  return parts.join(patch.to);
}

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

/** The work directory's name of a patched module's copy. */
export function moduleDir(module: string): string {
  return `mod/${module.replace(/[^A-Za-z0-9.-]/g, "_")}`;
}

/**
 * Lays out the work directory `dir`: go.mod (plus a `replace` of every patched module by its
 * copy) and go.sum, and the copies from the module cache with {@link PATCHES} applied.
 */
async function prepareSource(dir: string, goMod: string, env: Record<string, string>) {
  const modules = [...new Set(PATCHES.map((p) => p.module))];
  const replaces: string[] = [];
  for (const m of modules) {
    const info = JSON.parse(await run(GO, ["mod", "download", "-json", m], { env, cwd: HERE }));
    if (typeof info.Dir !== "string") throw new Error(`gvisor: go mod download ${m} gave no Dir`);
    await Deno.mkdir(`${dir}/mod`, { recursive: true });
    await run("cp", ["-r", info.Dir, `${dir}/${moduleDir(m)}`]);
    await run("chmod", ["-R", "u+w", `${dir}/${moduleDir(m)}`]);
    replaces.push(`replace ${m} => ./${moduleDir(m)}\n`);
  }
  for (const p of PATCHES) {
    const file = `${dir}/${moduleDir(p.module)}/${p.file}`;
    await Deno.writeTextFile(file, applyPatch(await Deno.readTextFile(file), p));
  }
  await Deno.writeTextFile(`${dir}/go.mod`, `${goMod}\n${replaces.join("")}`);
  await Deno.copyFile(`${HERE}go.sum`, `${dir}/go.sum`);
}

/** Paths of the built binaries by file name (see {@link GVISOR_BINARIES}). */
export type GvisorBinaries = Record<keyof typeof GVISOR_BINARIES, string>;

/**
 * Returns the cached binaries, building them first if go.mod, go.sum or the toolchain changed.
 * Prints progress (a cold compile took 170 s on 2 shared cores).
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
    JSON.stringify(PATCHES),
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
  return await withCacheLock(dir, "gvisor", async () => {
    if ((await Promise.all(Object.values(out).map(exists))).every((p) => p)) return out;
    const tmp = `${dir}/tmp`;
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.mkdir(tmp, { recursive: true });
    console.log(`gvisor: building ${GVISOR_MODULE} ${version} with ${goVersion} into ${dir}`);
    console.log(
      "gvisor: a cold build takes about 3 min on 2 shared cores (plus module and toolchain downloads); progress every 60 s",
    );
    const start = performance.now();
    await prepareSource(tmp, goMod, env);
    await goBuild("gvisor", 19, gvisorBuildArgs(version, `${tmp}/bin`), { cwd: tmp, env, start });
    // `go build -o dir/` names each binary after its package's last element.
    for (const [name, pkg] of Object.entries(GVISOR_BINARIES)) {
      await Deno.rename(`${tmp}/bin/${pkg.replace(/^.*\//, "")}`, out[name]);
    }
    await Deno.remove(tmp, { recursive: true });
    const secs = (performance.now() - start) / 1000;
    await Deno.writeTextFile(
      `${dir}/build.json`,
      JSON.stringify({ version, goVersion, seconds: Math.round(secs) }) + "\n",
    );
    console.log(`gvisor: built in ${secs.toFixed(0)} s`);
    return out;
  });
}

if (import.meta.main) {
  console.log(Object.values(await buildGvisor()).join("\n"));
}
