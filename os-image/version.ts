/**
 * Build identity: OS version, commit and SOURCE_DATE_EPOCH (image.md §12).
 * @module
 */
import { run } from "./lib/exec.ts";

/** The OS version (semver) of this source tree, defined once in the OS-image contract. */
export { OS_VERSION } from "../node/base/osimage/version.ts";

const repo = new URL("../", import.meta.url).pathname;

/** Commit hash of HEAD (`METROPOLIS_COMMIT` overrides; `unknown` outside git). */
export async function buildCommit(): Promise<string> {
  const env = Deno.env.get("METROPOLIS_COMMIT");
  if (env) return env;
  return (await run("git", ["rev-parse", "HEAD"], { cwd: repo }).catch(() => "unknown")).trim();
}

/** SOURCE_DATE_EPOCH from the environment, else the commit time of HEAD, else 0. */
export async function sourceDateEpoch(): Promise<number> {
  const env = Deno.env.get("SOURCE_DATE_EPOCH");
  if (env !== undefined) {
    if (!/^\d+$/.test(env)) throw new Error(`SOURCE_DATE_EPOCH must be an integer, is "${env}"`);
    return Number(env);
  }
  const t = await run("git", ["log", "-1", "--format=%ct"], { cwd: repo }).catch(() => "0");
  return Number(t.trim()) || 0;
}
