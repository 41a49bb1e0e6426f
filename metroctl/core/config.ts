/**
 * The credential directory (metroctl.md §5): `owner-key.pem`, `owner.pem`, `ca.pem`, their PEM
 * block types and modes. Errors name the file.
 */
import { join } from "node:path";
import { pemDecodeAll, pemEncode } from "../../node/base/pki/pem.ts";
import { exportGoEd25519, importGoEd25519 } from "../../node/base/pki/keys.ts";
import { parseCertificate } from "../../node/base/pki/info.ts";
import { CliError } from "./errors.ts";

/** PEM type of the owner key file. */
export const OWNER_KEY_PEM_TYPE = "METROPOLIS INITIAL OWNER PRIVATE KEY";
/** PEM type of certificates. */
export const CERTIFICATE_PEM_TYPE = "CERTIFICATE";
/** File names in the config directory. */
export const FILES = { ownerKey: "owner-key.pem", ownerCert: "owner.pem", ca: "ca.pem" } as const;

/** Default config directory: `$XDG_CONFIG_HOME/metroctl`, else `$HOME/.config/metroctl`. */
export function defaultConfigDir(): string {
  const xdg = Deno.env.get("XDG_CONFIG_HOME");
  if (xdg) return join(xdg, "metroctl");
  return join(Deno.env.get("HOME") ?? ".", ".config", "metroctl");
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new CliError(`reading ${path}: ${(e as Error).message}`);
  }
}

/** Decodes the single PEM block of `file` with type `type`; errors name the file. */
function decodeOne(file: string, text: string, type: string): Uint8Array {
  let blocks;
  try {
    blocks = pemDecodeAll(text);
  } catch {
    throw new CliError(`${file} contains invalid PEM armoring`);
  }
  if (blocks.length === 0) throw new CliError(`${file} contains invalid PEM armoring`);
  if (blocks[0].label !== type) {
    throw new CliError(`${file} contains a PEM block that's not a ${type}`);
  }
  return blocks[0].der;
}

/** Access to one config directory. */
export class ConfigDir {
  constructor(readonly dir: string, readonly warn: (line: string) => void = () => {}) {}

  /** Absolute-ish path of a file in the directory. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** The owner key pair, or undefined if `owner-key.pem` does not exist. */
  async ownerKey(): Promise<CryptoKeyPair | undefined> {
    const path = this.path(FILES.ownerKey);
    const text = await readIfExists(path);
    if (text === undefined) return undefined;
    const st = await Deno.stat(path);
    if (st.mode !== null && (st.mode & 0o077) !== 0) {
      this.warn(
        `warning: ${FILES.ownerKey} is readable by group or others (mode ${
          (st.mode & 0o777).toString(8)
        })`,
      );
    }
    const der = decodeOne(FILES.ownerKey, text, OWNER_KEY_PEM_TYPE);
    if (der.length !== 64) throw new CliError(`${FILES.ownerKey} contains a non-Ed25519 key`);
    try {
      return await importGoEd25519(der);
    } catch {
      throw new CliError(`${FILES.ownerKey}: public half does not match the seed`);
    }
  }

  /** Writes `owner-key.pem` (0600). */
  async writeOwnerKey(keys: CryptoKeyPair): Promise<void> {
    await this.#write(
      FILES.ownerKey,
      pemEncode(OWNER_KEY_PEM_TYPE, await exportGoEd25519(keys)),
      0o600,
    );
  }

  async #cert(name: string): Promise<Uint8Array | undefined> {
    const text = await readIfExists(this.path(name));
    if (text === undefined) return undefined;
    const der = decodeOne(name, text, CERTIFICATE_PEM_TYPE);
    try {
      parseCertificate(der);
    } catch {
      throw new CliError(`${name} contains an invalid X.509 certificate`);
    }
    return der;
  }

  /** DER of `owner.pem`, or undefined. */
  ownerCertificate(): Promise<Uint8Array | undefined> {
    return this.#cert(FILES.ownerCert);
  }

  /** DER of the pinned `ca.pem`, or undefined. */
  ca(): Promise<Uint8Array | undefined> {
    return this.#cert(FILES.ca);
  }

  /** Writes `owner.pem` (0644). */
  writeOwnerCertificate(der: Uint8Array): Promise<void> {
    return this.#write(FILES.ownerCert, pemEncode(CERTIFICATE_PEM_TYPE, der), 0o644);
  }

  /** Writes `ca.pem` (0600). */
  writeCA(der: Uint8Array): Promise<void> {
    return this.#write(FILES.ca, pemEncode(CERTIFICATE_PEM_TYPE, der), 0o600);
  }

  async #write(name: string, text: string, mode: number): Promise<void> {
    const path = this.path(name);
    try {
      await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(path, text, { mode });
      // writeTextFile applies the mode only on creation (and through the umask): enforce it.
      await Deno.chmod(path, mode);
    } catch (e) {
      throw new CliError(`writing ${path}: ${(e as Error).message}`);
    }
  }
}
