/**
 * The shared-library closure of the ELF files in a tree, resolved with the host's `ldd`
 * (image.md §3: libraries are never listed by hand).
 * @module
 */

/** True when the file starts with the ELF magic. */
export async function isElf(path: string): Promise<boolean> {
  const f = await Deno.open(path);
  try {
    const b = new Uint8Array(4);
    const n = await f.read(b);
    return n === 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
  } finally {
    f.close();
  }
}

/**
 * Parses `ldd` output into `{image path → host path}`: each library goes to
 * `/lib/x86_64-linux-gnu/<name>`, the dynamic loader to its absolute path.
 */
export function parseLdd(out: string): Map<string, string> {
  const libs = new Map<string, string>();
  for (const line of out.split("\n")) {
    const l = line.trim();
    if (!l || l.startsWith("linux-vdso") || l.includes("statically linked")) continue;
    let m = /^(\S+) => (\/\S+) \(0x[0-9a-f]+\)$/.exec(l);
    if (m) {
      libs.set(`/lib/x86_64-linux-gnu/${m[1]}`, m[2]);
      continue;
    }
    m = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(l);
    if (m) {
      libs.set(m[1], m[1]);
      continue;
    }
    if (/not found/.test(l)) throw new Error(`ldd: missing library: ${l}`);
  }
  return libs;
}

/** The libraries (image path → host path) needed by the ELF `path`; empty for static ELFs. */
export async function libraryClosure(path: string): Promise<Map<string, string>> {
  const out = await new Deno.Command("ldd", { args: [path], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    if (/not a dynamic executable/.test(new TextDecoder().decode(out.stderr) + text)) {
      return new Map();
    }
    throw new Error(`ldd ${path} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return parseLdd(text);
}

/** Resolves a host library path to the real file (ldd reports symlink names). */
export async function realFile(path: string): Promise<string> {
  return await Deno.realPath(path);
}
