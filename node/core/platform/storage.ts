/**
 * The storage tree of a namespace node (node.md §3, §8; testing.md §2.2): `<state>/esp` and
 * `<state>/data` are bind-mounted at /esp and /data, and the node's own hosts file
 * (/ephemeral/hosts) over /etc/hosts, all inside the node's private mount namespace, so every
 * path the agent uses is the same as on a VM and nothing leaks to the host.
 */
import { mount, MS } from "../../base/sys/mod.ts";

function ensureDir(p: string) {
  Deno.mkdirSync(p, { recursive: true, mode: 0o755 });
}

function ensureFile(p: string) {
  try {
    Deno.statSync(p);
  } catch {
    Deno.writeTextFileSync(p, "");
  }
}

/**
 * Binds `<state>/esp` and `<state>/data`. Runs before the bring-up mounts: the state directory
 * may live below /tmp, which the bring-up covers with a fresh tmpfs.
 */
export function mountNamespaceState(state: string, log: (line: string) => void): void {
  for (const [src, dst] of [[`${state}/esp`, "/esp"], [`${state}/data`, "/data"]]) {
    ensureDir(src);
    ensureDir(dst);
    mount(src, dst, null, MS.BIND);
    log(`bind-mounted ${src} at ${dst}`);
  }
}

/** Binds /ephemeral/hosts over /etc/hosts (after /ephemeral is mounted). */
export function mountNamespaceHosts(log: (line: string) => void): void {
  ensureFile("/ephemeral/hosts");
  mount("/ephemeral/hosts", "/etc/hosts", null, MS.BIND);
  log("bind-mounted /ephemeral/hosts at /etc/hosts");
}
