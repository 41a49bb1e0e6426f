/**
 * Builds the node's container runtime (kubernetes.md §6) from the Go modules pinned in go.mod
 * beside this file: containerd 2 (`containerd`, `ctr` for the preseed import, the runc shim
 * `containerd-shim-runc-v2`) and runc, into `${cache}/metropolis/containerd/<hash>/`, keyed by
 * go.mod, go.sum, {@link RUNTIME_BUILDS} and the Go version; cached binaries are reused. Module
 * and build caches are the kube build's (see hyperkube/build.ts).
 *
 * Why not Debian's: bookworm has containerd 1.6 and runc 1.1, and user-namespace pods
 * (`hostUsers: false`) need containerd >= 2.0 (its CRI creates the pod's user namespace and
 * reports the feature to the kubelet) and runc >= 1.2 (idmapped mounts of the rootfs and
 * volumes).
 *
 * Each module is built inside its own directory of the module cache, i.e. with its own go.mod and
 * go.sum (`-mod=readonly`): exactly the dependency versions upstream released and tested, checked
 * against upstream's go.sum; our go.sum checks the two module archives themselves. Both need a
 * newer Go than the project's 1.23: go.mod's `toolchain` line names it (fetched from the module
 * proxy like gVisor's).
 *
 * - containerd, ctr and the shim are pure Go (`CGO_ENABLED=0`, so static); the btrfs, devmapper
 *   and zfs snapshotters are left out (nodes use overlayfs only), the shim without gRPC as
 *   upstream's release build does.
 * - runc needs cgo for its nsenter C code and libseccomp (Debian's libseccomp-dev, .ci/setup):
 *   seccomp stays in, pods may ask for `RuntimeDefault`. It is linked statically (upstream's
 *   `make static`), so nodes need no libseccomp.
 *
 * Usage as a script: `deno run -A node/kubernetes/containerd/build.ts` prints the binaries.
 * @module
 */
import { cacheDir, exists, hashInputs, run, withCacheLock } from "../buildcache.ts";
import { GO, goBuild, goEnv } from "../hyperkube/build.ts";

const HERE = new URL(".", import.meta.url).pathname;

/** The modules. */
export const CONTAINERD_MODULE = "github.com/containerd/containerd/v2";
export const RUNC_MODULE = "github.com/opencontainers/runc";

/** One `go build` inside one module's directory. */
export interface ModuleBuild {
  module: string;
  /** Output file name → Go package; each name is the package's last path element. */
  binaries: Readonly<Record<string, string>>;
  cgo: boolean;
  tags: readonly string[];
  /** -ldflags for the module's version (as go.mod pins it, `vX.Y.Z`). */
  ldflags: (version: string) => string;
}

// containerd's Makefile stamps the version into its version package.
const containerdLd = (v: string) =>
  `-s -w -X ${CONTAINERD_MODULE}/version.Version=${v} ` +
  `-X ${CONTAINERD_MODULE}/version.Package=${CONTAINERD_MODULE}`;
const CONTAINERD_TAGS = ["urfave_cli_no_docs", "no_btrfs", "no_devmapper", "no_zfs"];

/** The builds (see the module comment). */
export const RUNTIME_BUILDS: readonly ModuleBuild[] = [{
  module: CONTAINERD_MODULE,
  binaries: {
    containerd: `${CONTAINERD_MODULE}/cmd/containerd`,
    ctr: `${CONTAINERD_MODULE}/cmd/ctr`,
  },
  cgo: false,
  tags: CONTAINERD_TAGS,
  ldflags: containerdLd,
}, {
  module: CONTAINERD_MODULE,
  binaries: { "containerd-shim-runc-v2": `${CONTAINERD_MODULE}/cmd/containerd-shim-runc-v2` },
  cgo: false,
  tags: [...CONTAINERD_TAGS, "no_grpc"],
  ldflags: containerdLd,
}, {
  module: RUNC_MODULE,
  binaries: { runc: RUNC_MODULE },
  cgo: true,
  // runc embeds its version from its VERSION file.
  tags: ["seccomp", "urfave_cli_no_docs", "netgo", "osusergo"],
  ldflags: () => "-s -w -extldflags -static",
}];

/** Every binary's file name. */
export const RUNTIME_BINARY_NAMES: readonly string[] = RUNTIME_BUILDS.flatMap((b) =>
  Object.keys(b.binaries)
);

/** The version go.mod requires of `module`. */
export function requiredVersion(goMod: string, module: string): string {
  const m = goMod.match(
    new RegExp(`^\\s*(?:require\\s+)?${module.replaceAll(".", "\\.")} (v\\S+)(?:\\s+//.*)?$`, "m"),
  );
  if (!m) throw new Error(`containerd build: go.mod lacks a \`${module} <version>\` requirement`);
  return m[1];
}

/** go.mod's `toolchain` line. */
export function goToolchain(goMod: string): string {
  const t = goMod.match(/^toolchain (go\d+\.\d+(?:\.\d+)?)\s*$/m);
  if (!t) throw new Error("containerd build: go.mod lacks a `toolchain goX.Y.Z` line");
  return t[1];
}

/** The `go build` arguments of `b` at `version`, writing into `outDir`. */
export function moduleBuildArgs(b: ModuleBuild, version: string, outDir: string): string[] {
  return [
    "build",
    "-p",
    "2",
    "-trimpath",
    "-tags",
    b.tags.join(","),
    "-ldflags",
    b.ldflags(version),
    "-o",
    `${outDir}/`,
    ...Object.values(b.binaries),
  ];
}

/** Paths of the built binaries by file name (see {@link RUNTIME_BUILDS}). */
export type RuntimeBinaries = Record<string, string>;

/** The `containerd --version` line's version and the runc version of a build, for logs. */
export interface RuntimeVersions {
  containerd: string;
  runc: string;
}

/** The versions go.mod pins. */
export function runtimeVersions(goMod: string): RuntimeVersions {
  return {
    containerd: requiredVersion(goMod, CONTAINERD_MODULE),
    runc: requiredVersion(goMod, RUNC_MODULE),
  };
}

/**
 * Returns the cached binaries, building them first if go.mod, go.sum, the builds or the toolchain
 * changed. Prints progress (a cold build: 5 min of CPU, 658 s on 2 cores shared with two other
 * Go builds).
 */
export async function buildContainerd(): Promise<RuntimeBinaries> {
  if (!(await exists(GO))) throw new Error(`containerd build: ${GO} missing (run .ci/setup)`);
  const goMod = await Deno.readTextFile(`${HERE}go.mod`);
  const versions = runtimeVersions(goMod);
  const env = { ...goEnv(), GOTOOLCHAIN: goToolchain(goMod) };
  const goVersion = (await run(GO, ["version"], { env, cwd: HERE })).trim();
  const key = await hashInputs([
    goMod,
    await Deno.readFile(`${HERE}go.sum`),
    JSON.stringify(RUNTIME_BUILDS.map((b) => ({ ...b, ldflags: b.ldflags("V") }))),
    goVersion,
  ]);
  const dir = cacheDir("containerd", key);
  const out = Object.fromEntries(RUNTIME_BINARY_NAMES.map((n) => [n, `${dir}/${n}`]));
  const label = `containerd ${versions.containerd} + runc ${versions.runc}`;
  if ((await Promise.all(Object.values(out).map(exists))).every((p) => p)) {
    console.log(`containerd: ${label}, cached in ${dir}`);
    return out;
  }
  return await withCacheLock(dir, "containerd", async () => {
    if ((await Promise.all(Object.values(out).map(exists))).every((p) => p)) return out;
    const tmp = `${dir}/tmp`;
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.mkdir(tmp, { recursive: true });
    console.log(`containerd: building ${label} with ${goVersion} into ${dir}`);
    console.log(
      "containerd: a cold build takes 5 min of CPU, 11 min on 2 busy cores; progress every 60 s",
    );
    const start = performance.now();
    for (const b of RUNTIME_BUILDS) {
      // Verified against our go.sum; the module's directory is then the main module.
      const info = JSON.parse(
        await run(GO, ["mod", "download", "-json", b.module], { env, cwd: HERE }),
      );
      if (typeof info.Dir !== "string" || typeof info.Version !== "string") {
        throw new Error(`containerd build: go mod download ${b.module} gave no Dir`);
      }
      await goBuild("containerd", 10, moduleBuildArgs(b, info.Version, `${tmp}/bin`), {
        cwd: info.Dir,
        env: { ...env, GOFLAGS: "-mod=readonly", CGO_ENABLED: b.cgo ? "1" : "0" },
        start,
      });
    }
    const bytes: Record<string, number> = {};
    for (const [name, path] of Object.entries(out)) {
      await Deno.rename(`${tmp}/bin/${name}`, path);
      bytes[name] = (await Deno.stat(path)).size;
    }
    await Deno.remove(tmp, { recursive: true });
    const secs = (performance.now() - start) / 1000;
    await Deno.writeTextFile(
      `${dir}/build.json`,
      JSON.stringify({ ...versions, goVersion, seconds: Math.round(secs), bytes }) + "\n",
    );
    console.log(`containerd: built in ${secs.toFixed(0)} s`);
    return out;
  });
}

if (import.meta.main) {
  console.log(Object.values(await buildContainerd()).join("\n"));
}
