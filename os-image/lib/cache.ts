/**
 * Where slow build outputs are cached: `${XDG_CACHE_HOME:-$HOME/.cache}/metropolis/<thing>/`.
 * @module
 */

/** The cache directory for `thing` (not created). */
export function cacheDir(thing: string): string {
  const base = Deno.env.get("XDG_CACHE_HOME") ||
    `${Deno.env.get("HOME") || "/root"}/.cache`;
  return `${base}/metropolis/${thing}`;
}
