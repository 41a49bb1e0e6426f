/**
 * Writes the certificates, keys and kubeconfigs a component reads into its own directory below
 * /ephemeral/kubernetes (kubernetes.md §4): directory 0700, files 0600, each replaced atomically
 * (written aside, then renamed) so a restarting child never reads half a key.
 */

/** Writes `files` (name → content) into `dir`; returns `dir`. */
export async function writeComponentFiles(
  dir: string,
  files: Record<string, string>,
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode only applies to a directory it creates; an older one is tightened here.
  await Deno.chmod(dir, 0o700);
  for (const [name, content] of Object.entries(files)) {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`component file: bad name ${name}`);
    const tmp = `${dir}/.${name}.tmp`;
    await Deno.writeTextFile(tmp, content, { mode: 0o600 });
    await Deno.chmod(tmp, 0o600);
    await Deno.rename(tmp, `${dir}/${name}`);
  }
  return dir;
}

/** `<name>.crt` and `<name>.key` of an identity, for {@link writeComponentFiles}. */
export function pemFiles(
  name: string,
  pair: { certPem: string; keyPem: string },
): Record<string, string> {
  return { [`${name}.crt`]: pair.certPem, [`${name}.key`]: pair.keyPem };
}
