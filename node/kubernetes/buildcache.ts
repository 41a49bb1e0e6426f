/**
 * Content-addressed build cache for the Kubernetes payloads (kube binary, pause, images):
 * `${XDG_CACHE_HOME:-$HOME/.cache}/metropolis/<thing>/<hash of inputs>/`, so a rebuild happens
 * only when an input changed.
 */
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

function pidAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `fn` holding `<dir>.lock` (our PID inside), waiting while another live process holds it
 * and taking over the lock of a dead one. Two test runs or a launcher and a suite may ask for the
 * same cold build at once: without the lock both build, doubling a 10–40 min job and racing on
 * the same temporary files. `fn` must check again whether the result exists by now.
 */
export async function withCacheLock<T>(
  dir: string,
  label: string,
  fn: () => Promise<T>,
  pollMs = 10_000,
): Promise<T> {
  const path = `${dir}.lock`;
  await Deno.mkdir(dir.replace(/\/[^/]+$/, ""), { recursive: true });
  for (let waited = 0;; waited += pollMs / 1000) {
    try {
      const f = await Deno.open(path, { write: true, createNew: true });
      await f.write(new TextEncoder().encode(`${Deno.pid}\n`));
      f.close();
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      const pid = Number((await Deno.readTextFile(path).catch(() => "")).trim());
      if (!pid || !pidAlive(pid)) {
        await Deno.remove(path).catch(() => {});
        continue;
      }
      if (waited % 60 === 0) {
        console.log(`${label}: waiting for the build of pid ${pid} (${waited} s)`);
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
  try {
    return await fn();
  } finally {
    await Deno.remove(path).catch(() => {});
  }
}
