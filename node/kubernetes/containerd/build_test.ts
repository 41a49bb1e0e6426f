import assert from "node:assert/strict";
import { cacheRoot } from "../buildcache.ts";
import { BIN } from "../paths.ts";
import {
  CONTAINERD_MODULE,
  goToolchain,
  moduleBuildArgs,
  requiredVersion,
  RUNC_MODULE,
  RUNTIME_BINARY_NAMES,
  RUNTIME_BUILDS,
  runtimeVersions,
} from "./build.ts";

const GO_MOD = await Deno.readTextFile(new URL("./go.mod", import.meta.url));

Deno.test("go.mod pins containerd >= 2.0, runc >= 1.2 and a toolchain", () => {
  const v = runtimeVersions(GO_MOD);
  const [cMajor] = v.containerd.slice(1).split(".").map(Number);
  const [rMajor, rMinor] = v.runc.slice(1).split(".").map(Number);
  // User-namespace pods: containerd 2's CRI, runc's idmapped mounts.
  assert.ok(cMajor >= 2, v.containerd);
  assert.ok(rMajor > 1 || rMinor >= 2, v.runc);
  assert.match(goToolchain(GO_MOD), /^go1\.\d+\.\d+$/);
  assert.equal(requiredVersion("require (\n\tm/x v1.2.3 // indirect\n)\n", "m/x"), "v1.2.3");
  assert.throws(() => requiredVersion("module m\n", "m/x"), /lacks a `m\/x <version>`/);
  assert.throws(() => goToolchain("module m\n"), /lacks a `toolchain/);
});

Deno.test("the toolchain satisfies each module's own go directive (when downloaded)", async () => {
  const have = goToolchain(GO_MOD).slice(2).split(".").map(Number);
  const v = runtimeVersions(GO_MOD);
  let checked = 0;
  for (const [module, version] of [[CONTAINERD_MODULE, v.containerd], [RUNC_MODULE, v.runc]]) {
    const mod = await Deno.readTextFile(
      `${cacheRoot()}/go/mod/cache/download/${module}/@v/${version}.mod`,
    ).catch(() => undefined);
    if (mod === undefined) continue; // not downloaded on this machine: the build checks it
    const need = mod.match(/^go (\d+)\.(\d+)/m)!.slice(1).map(Number);
    assert.ok(have[0] > need[0] || (have[0] === need[0] && have[1] >= need[1]), module);
    checked++;
  }
  console.log(`  ${checked}/2 go directives checked against the module cache`);
});

Deno.test("builds: the binaries a node runs, named as BIN and containerd expect", () => {
  for (const path of [BIN.containerd, BIN.ctr, BIN.runc]) {
    assert.ok(RUNTIME_BINARY_NAMES.includes(path.replace(/^.*\//, "")), path);
  }
  // containerd derives the shim's name from the runtime type io.containerd.runc.v2.
  assert.ok(RUNTIME_BINARY_NAMES.includes("containerd-shim-runc-v2"));
  assert.equal(new Set(RUNTIME_BINARY_NAMES).size, RUNTIME_BINARY_NAMES.length);
  for (const b of RUNTIME_BUILDS) {
    // `go build -o dir/` names each binary after its package's last path element.
    for (const [name, pkg] of Object.entries(b.binaries)) {
      assert.ok(pkg.startsWith(b.module), pkg);
      assert.equal(pkg.replace(/^.*\//, ""), name);
    }
  }
});

Deno.test("moduleBuildArgs: static, stripped, seccomp in runc, no unused snapshotters", () => {
  const byName = (n: string) => RUNTIME_BUILDS.find((b) => n in b.binaries)!;
  const runc = moduleBuildArgs(byName("runc"), "v1.4.4", "/out");
  assert.equal(byName("runc").cgo, true); // nsenter's C code and libseccomp
  assert.ok(runc[runc.indexOf("-tags") + 1].split(",").includes("seccomp"));
  assert.match(runc[runc.indexOf("-ldflags") + 1], /^-s -w .*-extldflags -static/);
  assert.equal(runc[runc.indexOf("-o") + 1], "/out/");
  const ctrd = moduleBuildArgs(byName("containerd"), "v2.2.9", "/out");
  assert.equal(byName("containerd").cgo, false);
  const tags = ctrd[ctrd.indexOf("-tags") + 1].split(",");
  for (const t of ["no_btrfs", "no_devmapper", "no_zfs"]) assert.ok(tags.includes(t), t);
  const ld = ctrd[ctrd.indexOf("-ldflags") + 1];
  assert.ok(ld.includes(`-X ${CONTAINERD_MODULE}/version.Version=v2.2.9`), ld);
  assert.deepEqual(ctrd.slice(-2), [
    `${CONTAINERD_MODULE}/cmd/containerd`,
    `${CONTAINERD_MODULE}/cmd/ctr`,
  ]);
  assert.ok(byName("containerd-shim-runc-v2").tags.includes("no_grpc"));
});
