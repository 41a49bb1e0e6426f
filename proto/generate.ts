/**
 * `deno task proto`: regenerates `proto/gen/` from the `.proto` files under `proto/`.
 *
 * Why protoc-gen-es (@bufbuild/protobuf v2) and not ts-proto or @grpc/proto-loader: it emits the
 * full descriptors (`GenFile`, `GenMessage`, `GenService`, `GenExtension`) next to plain TS types.
 * Those descriptors are what @bufbuild/cel needs to type-check and evaluate `GetNodes` filters
 * against `metropolis.proto.api.Node` (a registry of real message descriptors), and they carry the
 * method options, so the server reads each RPC's `metropolis.proto.ext.authorization` option with
 * `getOption()` instead of keeping a second hand-written table. The generated code needs no files
 * at run time (descriptors are embedded), which matters for the single-bundle node agent.
 * Google well-known types are not generated: protoc-gen-es maps them to `@bufbuild/protobuf/wkt`.
 *
 * Toolchain: Debian `protobuf-compiler` (protoc 3.21.12) with its include dir `/usr/include`
 * (package `libprotobuf-dev`, for `google/protobuf/*.proto`), and the npm plugin pinned in
 * deno.json (`@bufbuild/protoc-gen-es`), run through this Deno via a tiny shell shim because protoc
 * wants an executable file. Options: `target=ts,import_extension=ts`.
 *
 * Usage: `deno run -A proto/generate.ts [--check] [--gen-dir=<dir>]`. With `--check` nothing is
 * written: the code is generated into a temporary directory and compared with `proto/gen/`; on any
 * difference it prints one line naming the stale files and exits 1. `--gen-dir` replaces
 * `proto/gen/` as the output (for tests).
 */

const PROTO_DIR = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
const REPO = PROTO_DIR.replace(/\/proto$/, "");
const PROTOC = "/usr/bin/protoc";
const WKT_INCLUDE = "/usr/include";
const PLUGIN_OPTS = "target=ts,import_extension=ts";

function say(msg: string) {
  console.log(`proto: ${msg}`);
}

function fail(msg: string): never {
  console.error(`proto: error: ${msg}`);
  Deno.exit(1);
}

/** Lists files below `dir` (relative paths, sorted) whose name satisfies `pred`. */
async function listFiles(dir: string, pred: (name: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string, rel: string) {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(d));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(`${d}/${e.name}`, r);
      else if (e.isFile && pred(e.name)) out.push(r);
    }
  }
  await walk(dir, "");
  return out.sort();
}

/** The `.proto` sources: everything under proto/ except the output directory. */
async function protoSources(): Promise<string[]> {
  return (await listFiles(PROTO_DIR, (n) => n.endsWith(".proto")))
    .filter((f) => !f.startsWith("gen/"));
}

/** Reads the protoc-gen-es specifier pinned in deno.json so there is one pin only. */
async function pluginSpecifier(): Promise<string> {
  const cfg = JSON.parse(await Deno.readTextFile(`${REPO}/deno.json`));
  const spec = cfg.imports?.["@bufbuild/protoc-gen-es"];
  if (typeof spec !== "string" || !spec.startsWith("npm:")) {
    fail(`deno.json has no "@bufbuild/protoc-gen-es": "npm:…" import to run the plugin from`);
  }
  return `${spec}/bin/protoc-gen-es`;
}

async function protocVersion(): Promise<string> {
  try {
    const r = await new Deno.Command(PROTOC, { args: ["--version"], stdout: "piped" }).output();
    return new TextDecoder().decode(r.stdout).trim().replace(/^libprotoc\s+/, "");
  } catch {
    fail(`${PROTOC} not found: install Debian protobuf-compiler (bash .ci/setup)`);
  }
}

/** Runs protoc + protoc-gen-es over all sources into `outDir`. */
async function generate(outDir: string): Promise<string[]> {
  const sources = await protoSources();
  if (sources.length === 0) fail(`no .proto files under ${PROTO_DIR}`);
  try {
    await Deno.stat(`${WKT_INCLUDE}/google/protobuf/descriptor.proto`);
  } catch {
    fail(`${WKT_INCLUDE}/google/protobuf/descriptor.proto missing: install Debian libprotobuf-dev`);
  }
  const version = await protocVersion();
  const plugin = await pluginSpecifier();
  say(`compiling ${sources.length} .proto files (protoc ${version}, ${plugin.slice(4)})`);

  const shimDir = await Deno.makeTempDir({ prefix: "metropolis-proto-shim-" });
  try {
    const shim = `${shimDir}/protoc-gen-es`;
    const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    await Deno.writeTextFile(
      shim,
      `#!/bin/sh\nexec ${q(Deno.execPath())} run -A --quiet --config ${q(`${REPO}/deno.json`)} ${
        q(plugin)
      }\n`,
    );
    await Deno.chmod(shim, 0o755);
    const r = await new Deno.Command(PROTOC, {
      args: [
        `--plugin=protoc-gen-es=${shim}`,
        `--es_out=${outDir}`,
        `--es_opt=${PLUGIN_OPTS}`,
        `-I${PROTO_DIR}`,
        `-I${WKT_INCLUDE}`,
        ...sources,
      ],
      cwd: PROTO_DIR,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) {
      const err = new TextDecoder().decode(r.stderr).trim();
      fail(`protoc failed: ${err.split("\n").join(" | ")}`);
    }
  } finally {
    await Deno.remove(shimDir, { recursive: true });
  }
  const files = await listFiles(outDir, () => true);
  say(`generated ${files.length} files`);
  return files;
}

async function readOrNull(path: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Returns the relative paths that differ between a fresh generation in `fresh` and `genDir`. */
async function diff(fresh: string, freshFiles: string[], genDir: string): Promise<string[]> {
  const stale: string[] = [];
  for (const f of freshFiles) {
    const want = await Deno.readFile(`${fresh}/${f}`);
    const have = await readOrNull(`${genDir}/${f}`);
    if (have === null || !sameBytes(want, have)) stale.push(f);
  }
  const wanted = new Set(freshFiles);
  for (const f of await listFiles(genDir, () => true)) {
    if (!wanted.has(f)) stale.push(f);
  }
  return stale.sort();
}

async function main(args: string[]) {
  const unknown = args.filter((a) => a !== "--check" && !a.startsWith("--gen-dir="));
  if (unknown.length > 0) {
    fail(`unknown argument ${unknown[0]} (usage: generate.ts [--check] [--gen-dir=<dir>])`);
  }
  const check = args.includes("--check");
  const genArg = args.findLast((a) => a.startsWith("--gen-dir="))?.slice("--gen-dir=".length);
  const genDir = genArg ? genArg.replace(/\/$/, "") : `${PROTO_DIR}/gen`;
  const shown = genArg ? genDir : "proto/gen";

  const tmp = await Deno.makeTempDir({ prefix: "metropolis-proto-gen-" });
  try {
    const files = await generate(tmp);
    const stale = await diff(tmp, files, genDir);
    if (check) {
      if (stale.length > 0) {
        console.error(
          `proto: error: ${shown}/ is stale (${
            stale.map((f) => `${shown}/${f}`).join(", ")
          }): run \`deno task proto\``,
        );
        Deno.exit(1);
      }
      say(`${shown}/ is up to date`);
      return;
    }
    const wanted = new Set(files);
    for (const f of stale) {
      if (wanted.has(f)) {
        const dst = `${genDir}/${f}`;
        await Deno.mkdir(dst.slice(0, dst.lastIndexOf("/")), { recursive: true });
        await Deno.copyFile(`${tmp}/${f}`, dst);
        say(`wrote ${shown}/${f}`);
      } else {
        await Deno.remove(`${genDir}/${f}`);
        say(`removed ${shown}/${f}`);
      }
    }
    say(stale.length === 0 ? `${shown}/ already up to date` : `updated ${stale.length} files`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
