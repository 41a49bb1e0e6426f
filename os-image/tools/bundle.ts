/**
 * `deno task bundle`: bundles the agent (`node/main.ts`) into `dist/agent.js` with the etcd3
 * `.proto` files in `dist/proto/`, and metroctl (`metroctl/main.ts`, when present) into
 * `dist/metroctl.js` (architecture.md §7, workplace.md §1).
 *
 * The agent bundle is prefixed with a `__dirname` definition because etcd3 loads
 * `__dirname/../proto/*.proto` at import time and `__dirname` does not exist in an ES module.
 * @module
 */
import { exists, run } from "../lib/exec.ts";

/** The line prepended to every bundle; `lib` makes `__dirname/../proto` = `<bundle dir>/proto`. */
export const DIRNAME_PREFIX = 'var __dirname = new URL("./lib", import.meta.url).pathname;\n';

/** The etcd3 runtime `.proto` files shipped next to the agent bundle. */
export const ETCD3_PROTOS = ["rpc.proto", "kv.proto", "auth.proto"] as const;

/** What {@link bundle} produced. */
export interface BundleResult {
  /** The agent bundle. */
  agentJs: string;
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

/** Bundles `entry` to `out` (ES module for Deno) and prepends {@link DIRNAME_PREFIX}. */
export async function bundleOne(entry: string, out: string): Promise<void> {
  if (!(await exists(entry))) throw new Error(`bundle entry ${entry} does not exist`);
  await run(Deno.execPath(), [
    "bundle",
    "--quiet",
    "--config",
    `${repo}deno.json`,
    "--platform",
    "deno",
    "-o",
    out,
    entry,
  ], {
    cwd: repo,
  });
  const js = await Deno.readTextFile(out);
  await Deno.writeTextFile(out, DIRNAME_PREFIX + js);
}

/**
 * Bundles the agent (and metroctl when present) into `outDir` (default `<repo>/dist`).
 * `AGENT_ENTRY` overrides the agent entry point (local experiments only).
 */
export async function bundle(outDir = `${repo}dist`): Promise<BundleResult> {
  await Deno.mkdir(`${outDir}/proto`, { recursive: true });
  const entry = Deno.env.get("AGENT_ENTRY") || `${repo}node/main.ts`;
  const agentJs = `${outDir}/agent.js`;
  console.log(`bundle: ${entry} → ${agentJs}`);
  await bundleOne(entry, agentJs);
  const protos = await etcd3ProtoDir();
  for (const p of ETCD3_PROTOS) await Deno.copyFile(`${protos}/${p}`, `${outDir}/proto/${p}`);
  const result: BundleResult = { agentJs, protoDir: `${outDir}/proto` };
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
