/**
 * `deno task build:metroctl`: bundles metroctl into `dist/metroctl.js` (`deno bundle --platform
 * deno`) with the wrapper `dist/metroctl` (metroctl.md §1); with `DENORT_BIN` set also a single
 * executable `dist/metroctl-bin` via `deno compile` (which needs that runtime offline).
 */
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DIST = `${ROOT}/dist`;

async function deno(args: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  })
    .output();
  if (!out.success) throw new Error(`deno ${args[0]} failed with exit code ${out.code}`);
}

await Deno.mkdir(DIST, { recursive: true });
console.error("build:metroctl: bundling metroctl/main.ts → dist/metroctl.js");
const t0 = performance.now();
await deno(["bundle", "--platform", "deno", "-o", `${DIST}/metroctl.js`, "metroctl/main.ts"]);
const size = (await Deno.stat(`${DIST}/metroctl.js`)).size;
console.error(
  `build:metroctl: dist/metroctl.js ${(size / 1e6).toFixed(1)} MB in ${
    ((performance.now() - t0) / 1000).toFixed(1)
  } s`,
);
const wrapper = `${DIST}/metroctl`;
await Deno.writeTextFile(
  wrapper,
  `#!/bin/sh\n# metroctl: the bundled CLI on the Deno runtime (metroctl.md §1).\nDENO="\${DENO:-$(command -v deno || echo ${Deno.execPath()})}"\nexec "$DENO" run -A --no-config "$(dirname "$0")/metroctl.js" "$@"\n`,
);
await Deno.chmod(wrapper, 0o755);
console.error("build:metroctl: wrote dist/metroctl (wrapper)");
if (Deno.env.get("DENORT_BIN")) {
  console.error("build:metroctl: DENORT_BIN set, compiling dist/metroctl-bin");
  await deno(["compile", "-A", "--no-config", "-o", `${DIST}/metroctl-bin`, `${DIST}/metroctl.js`]);
  console.error("build:metroctl: wrote dist/metroctl-bin");
} else {
  console.error(
    "build:metroctl: DENORT_BIN not set, no single executable (deno compile needs it offline)",
  );
}
