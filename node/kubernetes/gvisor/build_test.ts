import assert from "node:assert/strict";
import { cacheRoot } from "../buildcache.ts";
import {
  applyPatch,
  GVISOR_BINARIES,
  gvisorBuildArgs,
  gvisorPins,
  moduleDir,
  PATCHES,
  type SourcePatch,
} from "./build.ts";

Deno.test("gvisorPins: the gVisor version and the toolchain from go.mod", async () => {
  const goMod = await Deno.readTextFile(new URL("./go.mod", import.meta.url));
  const pins = gvisorPins(goMod);
  assert.match(pins.version, /^v0\.0\.0-\d{14}-[0-9a-f]{12}$/);
  assert.match(pins.toolchain, /^go1\.\d+\.\d+$/);
  // The toolchain must satisfy gVisor's own `go` directive (go.mod's, copied from gVisor's).
  const need = goMod.match(/^go (\d+)\.(\d+)/m)!.slice(1).map(Number);
  const have = pins.toolchain.match(/^go(\d+)\.(\d+)/)!.slice(1).map(Number);
  assert.ok(have[0] > need[0] || (have[0] === need[0] && have[1] >= need[1]));
  assert.deepEqual(
    gvisorPins(
      "module m\ntoolchain go1.26.8\nrequire (\n\tgvisor.dev/gvisor v0.0.0-1-a // indirect\n)\n",
    ),
    { version: "v0.0.0-1-a", toolchain: "go1.26.8" },
  );
  assert.throws(() => gvisorPins("module m\ntoolchain go1.26.8\n"), /lacks a `gvisor.dev\/gvisor/);
  assert.throws(() => gvisorPins("require gvisor.dev/gvisor v1.0.0\n"), /lacks a `toolchain/);
});

Deno.test("gvisorBuildArgs: both packages into one directory, version stamped, stripped", () => {
  const args = gvisorBuildArgs("v0.0.0-1-a", "/out");
  assert.deepEqual(args.slice(-2), ["gvisor.dev/gvisor/runsc", "gvisor.dev/gvisor/shim"]);
  assert.equal(args[args.indexOf("-o") + 1], "/out/");
  const ld = args[args.indexOf("-ldflags") + 1];
  assert.ok(ld.includes("-X gvisor.dev/gvisor/runsc/version.version=v0.0.0-1-a"), ld);
  assert.ok(ld.startsWith("-s -w"));
  // The output names go build picks (last path element) map to the names containerd expects.
  assert.deepEqual(Object.keys(GVISOR_BINARIES), ["runsc", "containerd-shim-runsc-v1"]);
});

Deno.test("applyPatch: replaces the text once, refuses a missing or repeated one", () => {
  const p: SourcePatch = { module: "m", file: "f.go", from: "a := 1\n", to: "a := 2\n" };
  assert.equal(applyPatch("x\na := 1\ny\n", p), "x\na := 2\ny\n");
  assert.throws(() => applyPatch("x", p), /patch of f.go expects its text once, found 0 times/);
  assert.throws(() => applyPatch("a := 1\na := 1\n", p), /found 2 times/);
});

Deno.test("PATCHES: each applies to the pinned module in the module cache (when downloaded)", async () => {
  const goMod = await Deno.readTextFile(new URL("./go.mod", import.meta.url));
  const cache = `${cacheRoot()}/go/mod`; // hyperkube/build.ts goEnv's GOMODCACHE
  let checked = 0;
  for (const p of PATCHES) {
    assert.ok(p.to.includes("Metropolis:"), `${p.file}: the patch says it is ours`);
    const version = goMod.match(new RegExp(`^\\s*${p.module.replaceAll(".", "\\.")} (v\\S+)`, "m"));
    assert.ok(version, `go.mod pins ${p.module}`);
    // The module cache escapes upper case letters as !<lower>.
    const dir = `${cache}/${p.module.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`)}@${
      version[1]
    }`;
    const src = await Deno.readTextFile(`${dir}/${p.file}`).catch(() => undefined);
    if (src === undefined) continue; // not downloaded on this machine: the build checks it
    assert.ok(applyPatch(src, p).includes(p.to));
    checked++;
  }
  console.log(`  ${checked}/${PATCHES.length} patches checked against the module cache`);
  assert.equal(new Set(PATCHES.map((p) => moduleDir(p.module))).size, 2);
  assert.equal(
    moduleDir("github.com/containerd/containerd/v2"),
    "mod/github.com_containerd_containerd_v2",
  );
});
