/**
 * `/ephemeral/resolv.conf` (the target of `/etc/resolv.conf`, node.md §8.2, §15): one
 * `nameserver` line per DNS server from DHCP or the static configuration; an empty file when
 * there are none, so resolvers fail fast instead of reading a stale host file.
 */

/** Renders resolv.conf for `servers` (duplicates dropped, order kept). */
export function renderResolvConf(servers: string[]): string {
  return [...new Set(servers)].map((s) => `nameserver ${s}\n`).join("");
}

/** Writes resolv.conf atomically (temp file + rename: readers never see half a file). */
export async function writeResolvConf(path: string, servers: string[]): Promise<void> {
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, renderResolvConf(servers), { mode: 0o644 });
  await Deno.rename(tmp, path);
}
