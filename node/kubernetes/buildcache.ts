/**
 * Content-addressed build cache for the Kubernetes payloads (kube binary, pause, images):
 * `${XDG_CACHE_HOME:-$HOME/.cache}/metropolis/<thing>/<hash of inputs>/`, so a rebuild happens
 * only when an input changed.
 */
import { delay } from "../base/delay/delay.ts";

export { exists } from "../base/sys/exists.ts";

/** Root of the project's caches. */
export function cacheRoot(): string {
  const base = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache`;
  return `${base}/metropolis`;
}

/** Hex SHA-256 over the given parts (strings or bytes), each length-prefixed. */
export async function hashInputs(parts: (string | Uint8Array)[]): Promise<string> {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    const b = typeof p === "string" ? enc.encode(p) : p;
    chunks.push(enc.encode(`${b.length}:`), b);
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The cache directory for `thing` keyed by `key` (not created). */
export function cacheDir(thing: string, key: string): string {
  return `${cacheRoot()}/${thing}/${key.slice(0, 24)}`;
}

/** Runs a command, returning stdout; throws with the command, exit code and stderr on failure. */
export async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (exit ${out.code}): ${dec.decode(out.stderr).trim()}`,
    );
  }
  return dec.decode(out.stdout);
}

/**
 * Runs `fn` holding an exclusive lock on `<dir>.lock`, waiting while another process (or another
 * build in this one) holds it. Two test runs or a launcher and a suite may ask for the same cold
 * build at once: without the lock both build, doubling a 10–40 min job and racing on the same
 * temporary files. `fn` must check again whether the result exists by now.
 *
 * The lock is the kernel's (flock on an open file description): it is released when the holder
 * closes the file or dies, so there is no stale lock to take over and no window between creating
 * a lock file and writing an owner into it (a PID file was read empty by a second build once, which
 * then ran beside the first). The file stays; it names the last holder's PID for the wait message.
 */
export async function withCacheLock<T>(
  dir: string,
  label: string,
  fn: () => Promise<T>,
  pollMs = 10_000,
): Promise<T> {
  const path = `${dir}.lock`;
  await Deno.mkdir(dir.replace(/\/[^/]+$/, ""), { recursive: true });
  const f = await Deno.open(path, { read: true, write: true, create: true });
  try {
    const locked = f.lock(true);
    for (let waited = 0;; waited += pollMs / 1000) {
      const ac = new AbortController();
      const got = await Promise.race([
        locked.then(() => true),
        delay(pollMs, ac.signal).then(() => false, () => false),
      ]);
      ac.abort();
      if (got) break;
      if (waited % 60 === 0) {
        const holder = (await Deno.readTextFile(path).catch(() => "")).trim() || "?";
        console.log(
          `${label}: waiting for the build of pid ${holder} (${waited + pollMs / 1000} s)`,
        );
      }
    }
    await f.truncate(0);
    await f.write(new TextEncoder().encode(`${Deno.pid}\n`));
    return await fn();
  } finally {
    f.close();
  }
}
