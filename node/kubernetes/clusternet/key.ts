/**
 * The key a direct-mode node publishes. The curator requires every node to publish a unique
 * 32-byte key (it is a WireGuard public key in WireGuard mode); in direct mode nothing uses it,
 * so it is random bytes, created once and kept so that the published record stays stable across
 * restarts.
 * @module
 */
import { writeTextFileDurable } from "../../base/sys/durable.ts";

/** File of the placeholder key (base64) below the clusternet state directory. */
export const PLACEHOLDER_FILE = "placeholder.pub";

function decodes32(b64: string): boolean {
  try {
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).length === 32;
  } catch {
    return false;
  }
}

/** Reads the key from `dir`, creating it (mode 0600, atomically) when absent or unusable. */
export async function placeholderKey(dir: string): Promise<string> {
  const path = `${dir}/${PLACEHOLDER_FILE}`;
  try {
    const k = (await Deno.readTextFile(path)).trim();
    if (decodes32(k)) return k;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  await writeTextFileDurable(path, key + "\n");
  return key;
}
