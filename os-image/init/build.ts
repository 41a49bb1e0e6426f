/**
 * Builds `/init` (init.c) as a static binary with `gcc -static -Os -s`, cached by a hash of the
 * source, the version string, the flags and the compiler version under
 * `${XDG_CACHE_HOME:-$HOME/.cache}/metropolis/init/<hash>/init`. Shared by the launcher, the
 * tests and the image build.
 *
 * CLI: `deno run -A os-image/init/build.ts [--out=<path>] [--version=<v>]` prints the built path
 * (and copies it to `--out` when given).
 */

import { cacheDir } from "../lib/cache.ts";
import { run } from "../lib/exec.ts";
import { sha256Hex } from "../lib/hash.ts";
import { initAgentArgvC } from "../../node/base/osimage/agent.ts";

const SOURCE = new URL("./init.c", import.meta.url).pathname;
const CFLAGS = ["-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror"];

/** Options of {@link buildInit}. */
export interface BuildInitOptions {
  /** OS version printed in the banner (`-DMETROPOLIS_VERSION`); default `"dev"`. */
  version?: string;
  /** Copy the result to this path too (mode 0755). */
  out?: string;
}

/** Builds (or finds in the cache) the static `/init` and returns its absolute path. */
export async function buildInit(opts: BuildInitOptions = {}): Promise<string> {
  const version = opts.version ?? "dev";
  if (!/^[A-Za-z0-9._+-]{1,64}$/.test(version)) {
    throw new Error(`invalid init version ${JSON.stringify(version)}: use [A-Za-z0-9._+-], 1-64`);
  }
  const src = await Deno.readFile(SOURCE);
  const gcc = (await run("gcc", ["-dumpfullversion"])).trim();
  const agentArgv = initAgentArgvC();
  const key = JSON.stringify({ src: sha256Hex(src), version, CFLAGS, gcc, agentArgv });
  const dir = `${cacheDir("init")}/${sha256Hex(key).slice(0, 32)}`;
  const bin = `${dir}/init`;
  try {
    await Deno.stat(bin);
  } catch {
    console.error(`init: building ${bin}`);
    await Deno.mkdir(dir, { recursive: true });
    // Compile next to the target and rename, so a concurrent build never sees half a binary.
    const tmp = `${dir}/init.${Deno.pid}.tmp`;
    await run("gcc", [
      ...CFLAGS,
      `-DMETROPOLIS_VERSION="${version}"`,
      `-DAGENT_ARGV=${agentArgv}`,
      "-o",
      tmp,
      SOURCE,
    ]);
    await Deno.rename(tmp, bin);
  }
  if (opts.out) {
    await Deno.copyFile(bin, opts.out);
    await Deno.chmod(opts.out, 0o755);
  }
  return bin;
}

if (import.meta.main) {
  const opts: BuildInitOptions = {};
  for (const a of Deno.args) {
    const m = /^--(out|version)=(.+)$/.exec(a);
    if (!m) {
      console.error(`init build: unknown argument ${JSON.stringify(a)}`);
      Deno.exit(2);
    }
    opts[m[1] as "out" | "version"] = m[2];
  }
  console.log(await buildInit(opts));
}
