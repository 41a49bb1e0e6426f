/**
 * Where slow build outputs are cached: `<cache root>/<thing>/` (the root is the one of
 * node/kubernetes/buildcache.ts: `${XDG_CACHE_HOME:-$HOME/.cache}/metropolis`).
 * @module
 */
import { cacheRoot } from "../../node/kubernetes/buildcache.ts";

/** The cache directory for `thing` (not created). */
export function cacheDir(thing: string): string {
  return `${cacheRoot()}/${thing}`;
}
