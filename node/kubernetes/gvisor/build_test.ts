import assert from "node:assert/strict";
import { GVISOR_BINARIES, gvisorBuildArgs, gvisorPins } from "./build.ts";

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
