/**
 * Authenticode signing of EFI images with `sbsign` (image.md §6, §8). Production keys come from
 * `SB_DB_KEY`/`SB_DB_CERT`; without them the test db key is used, with a warning.
 * @module
 */
import { cacheDir } from "../lib/cache.ts";
import { exists, run } from "../lib/exec.ts";
import { sha256Parts } from "../lib/hash.ts";
import { type KeyPair, testKeys } from "./keys.ts";

/** The db key pair to sign with: production from the environment, else the test key. */
export async function signingKey(): Promise<KeyPair & { test: boolean }> {
  const key = Deno.env.get("SB_DB_KEY");
  const crt = Deno.env.get("SB_DB_CERT");
  if (key && crt) return { key, crt, test: false };
  if (key || crt) throw new Error("set both SB_DB_KEY and SB_DB_CERT, or neither");
  return { ...(await testKeys()).db, test: true };
}

let warned = false;

/** Signs `input` into `output` with `kp` (default {@link signingKey}). */
export async function sign(input: string, output: string, kp?: KeyPair): Promise<void> {
  const k = kp ?? await signingKey();
  if (!kp && (k as { test?: boolean }).test && !warned) {
    warned = true;
    console.log("WARNING: signed with TEST keys (not for production)");
  }
  await run("sbsign", ["--key", k.key, "--cert", k.crt, "--output", output, input]);
}

/** Returns the number of signatures `sbverify --list` shows for `file`. */
export async function signatureCount(file: string): Promise<number> {
  const out = await run("sbverify", ["--list", file]).catch(() => "");
  return (out.match(/^signature \d+/gm) ?? []).length;
}

/**
 * Like {@link sign}, but reuses an earlier signature of the same bytes with the same key from
 * `…/metropolis/signed/`. sbsign embeds the signing time, so without this the signed inner
 * kernel, and with it every UKI, would differ between two builds (image.md §12).
 */
export async function signCached(input: string, output: string): Promise<void> {
  const k = await signingKey();
  const key = sha256Parts([
    await Deno.readFile(input),
    await Deno.readFile(k.crt),
    await Deno.readFile(k.key),
  ]);
  const dir = cacheDir("signed");
  const cached = `${dir}/${key}.efi`;
  if (!(await exists(cached))) {
    await Deno.mkdir(dir, { recursive: true });
    const tmp = `${cached}.${Deno.pid}.tmp`;
    await sign(input, tmp);
    await Deno.rename(tmp, cached);
  }
  await Deno.copyFile(cached, output);
}
