/**
 * Secure Boot test keys (image.md §8): PK, KEK and db, RSA-2048 self-signed for 10 years,
 * generated once into `…/metropolis/keys/test/` and never committed or shipped.
 * @module
 */
import { cacheDir } from "../lib/cache.ts";
import { exists, run } from "../lib/exec.ts";

/** Signature-owner GUID of every certificate the project enrolls (fixed project constant). */
export const OWNER_GUID = "4d45544f-524f-504f-4c49-530000000001";

/** Paths of one key pair. */
export interface KeyPair {
  /** PEM private key. */
  key: string;
  /** PEM certificate. */
  crt: string;
}

/** The three test key pairs. */
export interface TestKeys {
  /** Platform key. */
  PK: KeyPair;
  /** Key-exchange key. */
  KEK: KeyPair;
  /** Signature-database key (signs UKIs and kernels). */
  db: KeyPair;
  /** A second db key, enrolled only in the extra-db VARS (changes PCR 7). */
  extraDb: KeyPair;
}

/** Generates (once) and returns the test keys in `dir` (default the cache). */
export async function testKeys(dir = cacheDir("keys/test")): Promise<TestKeys> {
  await Deno.mkdir(dir, { recursive: true });
  const pair = async (name: string): Promise<KeyPair> => {
    const key = `${dir}/${name}.key`;
    const crt = `${dir}/${name}.crt`;
    if (!(await exists(key)) || !(await exists(crt))) {
      const tmp = `${dir}/.${name}.${Deno.pid}`;
      await run("openssl", [
        "req",
        "-new",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-sha256",
        "-days",
        "3650",
        "-subj",
        `/CN=Metropolis Test ${name}/`,
        "-keyout",
        `${tmp}.key`,
        "-out",
        `${tmp}.crt`,
      ]);
      await Deno.chmod(`${tmp}.key`, 0o600);
      await Deno.rename(`${tmp}.key`, key);
      await Deno.rename(`${tmp}.crt`, crt);
      console.log(`keys: generated test ${name} in ${dir}`);
    }
    return { key, crt };
  };
  return {
    PK: await pair("PK"),
    KEK: await pair("KEK"),
    db: await pair("db"),
    extraDb: await pair("db-extra"),
  };
}

if (import.meta.main) console.log(JSON.stringify(await testKeys(Deno.args[0]), null, 2));
