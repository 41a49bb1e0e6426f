/**
 * Whether a path exists: the one check the agent, the build tools and the test runner share.
 * Only "not found" means no; any other error (permissions, I/O) is thrown, so a path that cannot
 * be examined is never mistaken for an absent one.
 * @module
 */

/** True if `path` exists (following symlinks); false only when it is not found. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
