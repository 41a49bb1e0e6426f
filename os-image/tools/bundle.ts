/**
 * `deno task bundle`: bundles the agent (`node/main.ts`) into `dist/agent.js` and its chunks
 * ({@link AGENT_SPLIT_FLAGS}) with the etcd3 `.proto` files in `dist/proto/`, and metroctl
 * (`metroctl/main.ts`, when present) into `dist/metroctl.js` (architecture.md §7, workplace.md §1).
 *
 * The agent bundle is prefixed with a `__dirname` definition because etcd3 loads
 * `__dirname/../proto/*.proto` when it is evaluated and `__dirname` does not exist in an ES
 * module ({@link DIRNAME_PREFIX}).
 *
 * `dist/agent.js.inputs` records the hash of the agent's inputs ({@link AGENT_INPUTS}); the
 * launcher's {@link ensureAgentBundle} rebuilds the bundle only when it no longer matches.
 * @module
 */
import { exists, run } from "../lib/exec.ts";
import { sha256Parts } from "../lib/hash.ts";
import { agentArgv } from "../../node/base/osimage/agent.ts";

/**
 * A chunk of the split agent bundle beside its entry: `deno bundle --code-splitting` names them
 * `<name>-<8 character content hash>.js`.
 */
export const AGENT_CHUNK = /^[A-Za-z0-9_.-]+-[A-Z0-9]{8}\.js$/;

/**
 * Prepended to every bundle: a global `__dirname` such that `__dirname/../proto` is the bundle's
 * `proto/`. A getter, not a variable, because etcd3 is evaluated lazily (only when the node
 * becomes a ConsensusMember) and a namespace node has by then pivoted into its private root, where
 * the bundle's host directory is gone and the same files are at `/agent` (testing.md §2.2). On a
 * VM both are `/agent`.
 */
export const DIRNAME_PREFIX = [
  'Object.defineProperty(globalThis, "__dirname", { configurable: true, get() {',
  '  const proto = new URL("./proto", import.meta.url).pathname;',
  '  try { Deno.statSync(proto); } catch { return "/agent/lib"; }',
  '  return new URL("./lib", import.meta.url).pathname;',
  "} });",
  "",
].join("\n");

/**
 * `deno bundle` flags of the agent only. V8 keeps a script's whole source in memory for its life
 * (functions compile lazily from it) and, once a stack trace asks for a line number, a table of
 * every line's end: minified, the agent's 4.2 MB source becomes 2.1 MB and its 121,000 lines a
 * few hundred, ≈ 3 MB less V8 heap on every node (testing.md §5 `rss`). `--keep-names` keeps
 * function and class names, so stack traces and `constructor.name` still say what ran.
 */
export const AGENT_MINIFY_FLAGS = ["--minify", "--keep-names"] as const;

/**
 * Prepended to a minified bundle: `deno bundle` inserts its `createRequire` shim only where the
 * bundler's `__require` helper keeps that name, and minifying renames it, so the CommonJS
 * packages (grpc-js, etcd3) would fail with "Dynamic require of … is not supported". The
 * bundler's helper uses a `require` in scope when there is one.
 */
export const REQUIRE_SHIM = [
  'import { createRequire as __metropolisCreateRequire } from "node:module";',
  "var require = __metropolisCreateRequire(import.meta.url);",
  "",
].join("\n");

/**
 * `deno bundle` flags of the agent only: code splitting. V8 keeps the whole source of every
 * script it loaded, and in one file that is also the code of roles a node does not hold (the
 * curator, etcd3, CEL, @peculiar/x509, the Kubernetes controller and worker, the installer's and
 * updater's OCI schemas): each dynamic `import()` becomes a chunk next to `agent.js`, read only
 * when the role starts. A node without roles then loads 0.84 of the 2.1 MB and holds ≈ 2.7 MB
 * less V8 heap (testing.md §5 `rss`). Chunk names carry a hash of their content.
 */
export const AGENT_SPLIT_FLAGS = ["--code-splitting"] as const;

/**
 * How long a chunk no longer part of the current bundle stays in the output directory. Deno reads
 * every chunk when the agent starts (bundle_test.ts), so only a node starting from an older bundle
 * while it is rebuilt needs them; a day is a generous bound for files this small.
 */
export const STALE_CHUNK_MS = 24 * 3600_000;

/** The etcd3 runtime `.proto` files shipped next to the agent bundle. */
export const ETCD3_PROTOS = ["rpc.proto", "kv.proto", "auth.proto"] as const;

/** What {@link bundle} produced. */
export interface BundleResult {
  /** The agent bundle's entry. */
  agentJs: string;
  /** The agent bundle's chunks, next to {@link agentJs} (file names). */
  agentChunks: string[];
  /** Directory holding {@link ETCD3_PROTOS}. */
  protoDir: string;
  /** The metroctl bundle, when `metroctl/main.ts` exists. */
  metroctlJs?: string;
}

const repo = new URL("../../", import.meta.url).pathname;

/** Finds etcd3's `proto/` directory in Deno's npm cache (fetching the package if needed). */
export async function etcd3ProtoDir(): Promise<string> {
  const map = JSON.parse(await Deno.readTextFile(`${repo}deno.json`)).imports as Record<
    string,
    string
  >;
  const m = /^npm:etcd3@(.+)$/.exec(map["etcd3"] ?? "");
  if (!m) throw new Error('deno.json imports lack "etcd3": "npm:etcd3@<version>"');
  const info = JSON.parse(await run(Deno.execPath(), ["info", "--json"], { cwd: repo }));
  const dir = `${info.npmCache}/registry.npmjs.org/etcd3/${m[1]}/proto`;
  if (!(await exists(`${dir}/rpc.proto`))) {
    await run(Deno.execPath(), ["cache", `npm:etcd3@${m[1]}`], { cwd: repo });
  }
  if (!(await exists(`${dir}/rpc.proto`))) throw new Error(`etcd3 proto files not found in ${dir}`);
  return dir;
}

/** Next to `agent.js`: the {@link agentInputsHash} it was built from. */
export const AGENT_STAMP = "agent.js.inputs";
/** What decides the agent bundle: these trees and files of the repository, and Deno's version. */
export const AGENT_INPUTS = [
  "node",
  "proto",
  "deno.json",
  "deno.lock",
  // The recipe itself (prefix, shim-preserving names) shapes the output too.
  "os-image/tools/bundle.ts",
] as const;

async function collectFiles(path: string, out: string[]): Promise<void> {
  const st = await Deno.stat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isDirectory) {
    out.push(path);
    return;
  }
  for await (const e of Deno.readDir(path)) await collectFiles(`${path}/${e.name}`, out);
}

/** SHA-256 over the paths and contents of {@link AGENT_INPUTS} and the Deno version. */
export async function agentInputsHash(root = repo): Promise<string> {
  const files: string[] = [];
  for (const i of AGENT_INPUTS) await collectFiles(`${root}${i}`, files);
  files.sort();
  const parts: (string | Uint8Array)[] = [Deno.version.deno];
  for (const f of files) parts.push(f.slice(root.length), await Deno.readFile(f));
  return sha256Parts(parts);
}

/**
 * Makes `<outDir>/agent.js` (and `proto/`) current: rebuilt only when {@link agentInputsHash}
 * differs from the stamp. Outputs are written under temporary names and renamed into place, so a
 * node starting meanwhile (another launcher) never reads a half-written bundle; a running node
 * keeps the file it bound. Returns the bundle's path and whether it was rebuilt.
 */
export async function ensureAgentBundle(
  outDir = `${repo}dist`,
  log: (line: string) => void = () => {},
): Promise<{ agentJs: string; rebuilt: boolean }> {
  const agentJs = `${outDir}/agent.js`;
  const hash = await agentInputsHash();
  const stamp = await Deno.readTextFile(`${outDir}/${AGENT_STAMP}`).catch(() => "");
  const have = (await exists(agentJs)) &&
    (await Promise.all(ETCD3_PROTOS.map((p) => exists(`${outDir}/proto/${p}`)))).every((x) => x);
  if (have && stamp.trim() === hash) {
    await warmAgentCache(outDir, hash, log);
    return { agentJs, rebuilt: false };
  }
  log(`bundling the agent into ${agentJs} (${have ? "inputs changed" : "missing"})`);
  const started = performance.now();
  await writeAgentBundle(outDir, hash);
  log(`agent bundled in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await warmAgentCache(outDir, hash, log);
  return { agentJs, rebuilt: true };
}

/**
 * Next to `agent.js`: a `DENO_DIR` in which the bundle was loaded once (V8 code cache, module
 * analysis), with the {@link AGENT_STAMP} it belongs to in `stamp`. A namespace node starts its
 * own `DENO_DIR` as a copy of it instead of empty: loading the bundle then costs ≈ 0.2 s less CPU
 * per node boot (formation bench).
 */
export const AGENT_CACHE_DIR = "agent-deno";

/** Makes `<outDir>/{@link AGENT_CACHE_DIR}` current for the bundle with stamp `hash`. */
async function warmAgentCache(outDir: string, hash: string, log: (l: string) => void) {
  const dir = `${outDir}/${AGENT_CACHE_DIR}`;
  const stamp = await Deno.readTextFile(`${dir}/stamp`).catch(() => "");
  if (stamp.trim() === hash) return;
  const tmp = `${dir}.tmp-${Deno.pid}-${Date.now()}`;
  try {
    await Deno.mkdir(tmp, { recursive: true });
    // The agent refuses an unknown platform right after loading: the caches are written by then.
    const [deno, ...args] = agentArgv(Deno.execPath(), `${outDir}/agent.js`, ["--platform=-"]);
    const child = new Deno.Command(deno, {
      args,
      env: { DENO_DIR: tmp, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await child.status;
    await Deno.writeTextFile(`${tmp}/stamp`, hash + "\n");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.rename(tmp, dir);
  } catch (e) {
    // Only an optimisation: nodes then start with an empty DENO_DIR as before.
    log(`agent cache not prepared: ${(e as Error).message}`);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Bundles the agent into `outDir` (temporary names, then renames) and writes the stamp; returns
 * the chunks' file names. Chunks go into place before `agent.js` (a node starting meanwhile finds
 * every chunk its entry names); chunks of earlier bundles go once {@link STALE_CHUNK_MS} old.
 */
async function writeAgentBundle(outDir: string, hash: string): Promise<string[]> {
  await Deno.mkdir(`${outDir}/proto`, { recursive: true });
  const entry = Deno.env.get("AGENT_ENTRY") || `${repo}node/main.ts`;
  const tmp = `.tmp-${Deno.pid}-${Date.now()}`;
  const tmpDir = `${outDir}/agent${tmp}`;
  const protos = await etcd3ProtoDir();
  try {
    const { entryJs, chunks } = await bundleSplit(entry, tmpDir);
    for (const c of chunks) await Deno.rename(`${tmpDir}/${c}`, `${outDir}/${c}`);
    for (const p of ETCD3_PROTOS) {
      await Deno.copyFile(`${protos}/${p}`, `${outDir}/proto/${p}${tmp}`);
      await Deno.rename(`${outDir}/proto/${p}${tmp}`, `${outDir}/proto/${p}`);
    }
    await Deno.rename(`${tmpDir}/${entryJs}`, `${outDir}/agent.js`);
    // A bundle of another entry (AGENT_ENTRY experiments) must never look current.
    const key = Deno.env.get("AGENT_ENTRY") ? `custom entry ${entry}` : hash;
    await Deno.writeTextFile(`${outDir}/${AGENT_STAMP}${tmp}`, key + "\n");
    await Deno.rename(`${outDir}/${AGENT_STAMP}${tmp}`, `${outDir}/${AGENT_STAMP}`);
    await pruneChunks(outDir, new Set(chunks));
    return chunks;
  } finally {
    await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
    await Deno.remove(`${outDir}/${AGENT_STAMP}${tmp}`).catch(() => {});
  }
}

/** Removes chunks of `outDir` that are not in `keep` and older than {@link STALE_CHUNK_MS}. */
async function pruneChunks(outDir: string, keep: Set<string>): Promise<void> {
  for await (const e of Deno.readDir(outDir)) {
    if (!e.isFile || !AGENT_CHUNK.test(e.name) || keep.has(e.name)) continue;
    const st = await Deno.stat(`${outDir}/${e.name}`).catch(() => undefined);
    if (st?.mtime && Date.now() - st.mtime.getTime() > STALE_CHUNK_MS) {
      await Deno.remove(`${outDir}/${e.name}`).catch(() => {});
    }
  }
}

/**
 * Rewrites every character above U+00FF as a `\\uXXXX` escape (UTF-16 units), which means the
 * same in comments, strings, templates, regular expressions and identifiers. V8 keeps a script's
 * source in memory for its whole life, as a one-byte string only when every character fits in
 * Latin-1: a single `→` in a comment doubles the agent bundle's resident source (7.5 MB instead
 * of 3.7 MB; testing.md §5 `rss`).
 */
export function latin1Source(js: string): string {
  return js.replace(
    /[\u0100-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** `deno bundle` of `entry` for Deno with the repository's config, `flags` and `output`. */
async function denoBundle(
  entry: string,
  flags: readonly string[],
  output: readonly string[],
): Promise<void> {
  if (!(await exists(entry))) throw new Error(`bundle entry ${entry} does not exist`);
  const args = ["bundle", "--quiet", "--config", `${repo}deno.json`, "--platform", "deno"];
  await run(Deno.execPath(), [...args, ...flags, ...output, entry], { cwd: repo });
}

/**
 * Bundles `entry` to `out` (ES module for Deno), prepends {@link DIRNAME_PREFIX} and makes the
 * source Latin-1 ({@link latin1Source}); `minify`: with {@link AGENT_MINIFY_FLAGS} and
 * {@link REQUIRE_SHIM}.
 */
export async function bundleOne(
  entry: string,
  out: string,
  { minify = false }: { minify?: boolean } = {},
): Promise<void> {
  await denoBundle(entry, minify ? AGENT_MINIFY_FLAGS : [], ["-o", out]);
  const js = await Deno.readTextFile(out);
  await Deno.writeTextFile(out, latin1Source((minify ? REQUIRE_SHIM : "") + DIRNAME_PREFIX + js));
}

/**
 * Bundles `entry` minified ({@link AGENT_MINIFY_FLAGS}) with {@link AGENT_SPLIT_FLAGS} into the
 * new directory `outDir`: every file gets {@link REQUIRE_SHIM} and {@link DIRNAME_PREFIX} (any
 * chunk may hold CommonJS code, and the entry's own code runs only after its chunks), and all
 * are made Latin-1. Returns the entry's output name and the chunks'.
 */
export async function bundleSplit(
  entry: string,
  outDir: string,
): Promise<{ entryJs: string; chunks: string[] }> {
  await denoBundle(entry, [...AGENT_MINIFY_FLAGS, ...AGENT_SPLIT_FLAGS], ["--outdir", outDir]);
  const entryJs = entry.slice(entry.lastIndexOf("/") + 1).replace(/\.[cm]?[jt]sx?$/, "") + ".js";
  const chunks: string[] = [];
  for await (const e of Deno.readDir(outDir)) {
    if (e.name === entryJs) continue;
    if (!e.isFile || !AGENT_CHUNK.test(e.name)) {
      throw new Error(`bundle: unexpected output ${e.name} (entry ${entryJs})`);
    }
    chunks.push(e.name);
  }
  for (const name of [entryJs, ...chunks]) {
    const f = `${outDir}/${name}`;
    const js = await Deno.readTextFile(f);
    if (name !== entryJs && js.includes(`"./${entryJs}"`)) {
      throw new Error(`bundle: chunk ${name} imports the entry, which is renamed to agent.js`);
    }
    await Deno.writeTextFile(f, latin1Source(REQUIRE_SHIM + DIRNAME_PREFIX + js));
  }
  return { entryJs, chunks: chunks.sort() };
}

/**
 * Bundles the agent (and metroctl when present) into `outDir` (default `<repo>/dist`).
 * `AGENT_ENTRY` overrides the agent entry point (local experiments only).
 */
export async function bundle(outDir = `${repo}dist`): Promise<BundleResult> {
  const entry = Deno.env.get("AGENT_ENTRY") || `${repo}node/main.ts`;
  const agentJs = `${outDir}/agent.js`;
  console.log(`bundle: ${entry} → ${agentJs}`);
  const agentChunks = await writeAgentBundle(outDir, await agentInputsHash());
  const result: BundleResult = { agentJs, agentChunks, protoDir: `${outDir}/proto` };
  if (await exists(`${repo}metroctl/main.ts`)) {
    result.metroctlJs = `${outDir}/metroctl.js`;
    console.log(`bundle: metroctl/main.ts → ${result.metroctlJs}`);
    await bundleOne(`${repo}metroctl/main.ts`, result.metroctlJs);
  }
  return result;
}

if (import.meta.main) {
  const r = await bundle(Deno.args[0]);
  for (const [k, v] of Object.entries(r)) console.log(`bundle: ${k} ${v}`);
}
