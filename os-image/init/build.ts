/**
 * Builds `/init` (init.c) as a static binary with `gcc -static -Os -s`, cached by a hash of the
 * source, the version string, the flags and the compiler version under
 * `${XDG_CACHE_HOME:-$HOME/.cache}/metropolis/init/<hash>/init`. Shared by the launcher, the
 * tests and the image build.
 *
 * CLI: `deno run -A os-image/init/build.ts [--out=<path>] [--version=<v>]` prints the built path
 * (and copies it to `--out` when given).
 */

const SOURCE = new URL("./init.c", import.meta.url).pathname;
const CFLAGS = ["-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror"];

/** Options of {@link buildInit}. */
export interface BuildInitOptions {
  /** OS version printed in the banner (`-DMETROPOLIS_VERSION`); default `"dev"`. */
  version?: string;
  /** Copy the result to this path too (mode 0755). */
  out?: string;
}

function cacheRoot(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/metropolis`;
  const home = Deno.env.get("HOME");
  return home ? `${home}/.cache/metropolis` : "/tmp/metropolis-cache";
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdin: "null" }).output();
  const err = new TextDecoder().decode(out.stderr).trim();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${err.split("\n")[0]}`);
  return new TextDecoder().decode(out.stdout).trim();
}

async function sha256hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Builds (or finds in the cache) the static `/init` and returns its absolute path. */
export async function buildInit(opts: BuildInitOptions = {}): Promise<string> {
  const version = opts.version ?? "dev";
  if (!/^[A-Za-z0-9._+-]{1,64}$/.test(version)) {
    throw new Error(`invalid init version ${JSON.stringify(version)}: use [A-Za-z0-9._+-], 1-64`);
  }
  const src = await Deno.readFile(SOURCE);
  const gcc = await run("gcc", ["-dumpfullversion"]);
  const key = new TextEncoder().encode(
    JSON.stringify({ src: await sha256hex(src), version, CFLAGS, gcc }),
  );
  const dir = `${cacheRoot()}/init/${(await sha256hex(key)).slice(0, 32)}`;
  const bin = `${dir}/init`;
  try {
    await Deno.stat(bin);
  } catch {
    console.error(`init: building ${bin}`);
    await Deno.mkdir(dir, { recursive: true });
    // Compile next to the target and rename, so a concurrent build never sees half a binary.
    const tmp = `${dir}/init.${Deno.pid}.tmp`;
    await run("gcc", [...CFLAGS, `-DMETROPOLIS_VERSION="${version}"`, "-o", tmp, SOURCE]);
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
