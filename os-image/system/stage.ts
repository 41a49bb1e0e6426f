/**
 * Builds the staging tree of the system image from `rootfs/layout.json` plus the ldd closure
 * of its ELF files, with fixed modes, and computes the erofs UUID from the sorted staging
 * manifest (image.md §3, §4).
 * @module
 */
import { sha256File, sha256Hex } from "../lib/hash.ts";
import { unpackDeb } from "./debs.ts";
import { isElf, libraryClosure } from "./ldd.ts";

/** One entry of `layout.json`. */
export interface LayoutEntry {
  /** Absolute path in the image. */
  path: string;
  /** `deb:<pkg>:<path>`, `build:<artifact>`, `file:<repo path>`, `symlink:<target>` or `dir`. */
  source: string;
  /** Octal mode string, e.g. `"0755"`. */
  mode: string;
}

/** One entry of the staged tree (what the UUID and the content test are computed over). */
export interface StagedEntry {
  /** Absolute path in the image. */
  path: string;
  /** File type. */
  kind: "file" | "dir" | "symlink";
  /** Permission bits. */
  mode: number;
  /** SHA-256 of the content (file), of the target (symlink), empty for directories. */
  sha256: string;
  /** Where it came from (layout source, `ldd:<host path>` or `parent`). */
  source: string;
}

/** Result of {@link stage}. */
export interface Staged {
  /** All entries, sorted by path. */
  entries: StagedEntry[];
  /** Debian packages used, name → version. */
  debianPackages: Record<string, string>;
  /** The erofs UUID derived from the manifest. */
  uuid: string;
}

/** Reads and validates `layout.json`; throws a one-line error naming the bad entry. */
export function parseLayout(text: string): LayoutEntry[] {
  const doc = JSON.parse(text);
  if (!Array.isArray(doc.entries)) throw new Error("layout.json: missing entries array");
  const seen = new Set<string>();
  return doc.entries.map((e: LayoutEntry, i: number) => {
    if (typeof e.path !== "string" || !/^\/[^\0]+$/.test(e.path) || e.path.includes("//")) {
      throw new Error(`layout.json entry ${i}: bad path ${JSON.stringify(e.path)}`);
    }
    if (!/^(deb:[a-z0-9.+-]+:\/.+|build:.+|file:.+|symlink:.+|dir)$/.test(e.source ?? "")) {
      throw new Error(`layout.json ${e.path}: bad source ${JSON.stringify(e.source)}`);
    }
    if (!/^[0-7]{3,4}$/.test(e.mode ?? "")) {
      throw new Error(`layout.json ${e.path}: bad mode ${JSON.stringify(e.mode)}`);
    }
    if (seen.has(e.path)) throw new Error(`layout.json: duplicate path ${e.path}`);
    seen.add(e.path);
    return e;
  });
}

/** The UUID (RFC 4122 text form) = first 16 bytes of SHA-256 over the sorted manifest lines. */
export function manifestUuid(entries: StagedEntry[]): string {
  const lines = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((e) => `${e.path}\t${e.kind}\t${e.mode.toString(8).padStart(4, "0")}\t${e.sha256}\n`);
  const h = sha256Hex(lines.join("")).slice(0, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Stages `layout` into the empty directory `dir`. `artifacts` maps `build:<name>` names to host
 * paths or contents; `repo` resolves `file:` sources.
 */
export async function stage(
  layout: LayoutEntry[],
  artifacts: Record<string, string | Uint8Array>,
  repo: string,
  dir: string,
): Promise<Staged> {
  const entries = new Map<string, StagedEntry>();
  const debianPackages: Record<string, string> = {};

  const ensureParents = async (path: string) => {
    const parts = path.split("/").slice(1, -1);
    for (let i = 1; i <= parts.length; i++) {
      const p = "/" + parts.slice(0, i).join("/");
      if (entries.has(p)) continue;
      await Deno.mkdir(dir + p, { recursive: true });
      await Deno.chmod(dir + p, 0o755);
      entries.set(p, { path: p, kind: "dir", mode: 0o755, sha256: "", source: "parent" });
    }
  };
  const addFile = async (path: string, from: string | Uint8Array, mode: number, src: string) => {
    if (entries.has(path)) throw new Error(`staging: ${path} added twice (${src})`);
    await ensureParents(path);
    if (typeof from === "string") await Deno.copyFile(from, dir + path);
    else await Deno.writeFile(dir + path, from);
    await Deno.chmod(dir + path, mode);
    entries.set(path, {
      path,
      kind: "file",
      mode,
      sha256: await sha256File(dir + path),
      source: src,
    });
  };

  for (const e of layout) {
    const mode = parseInt(e.mode, 8);
    if (e.source === "dir") {
      await ensureParents(e.path);
      await Deno.mkdir(dir + e.path, { recursive: true });
      await Deno.chmod(dir + e.path, mode);
      entries.set(e.path, { path: e.path, kind: "dir", mode, sha256: "", source: "dir" });
    } else if (e.source.startsWith("symlink:")) {
      const target = e.source.slice("symlink:".length);
      await ensureParents(e.path);
      await Deno.symlink(target, dir + e.path);
      entries.set(e.path, {
        path: e.path,
        kind: "symlink",
        mode: 0o777,
        sha256: sha256Hex(target),
        source: e.source,
      });
    } else if (e.source.startsWith("deb:")) {
      const [, pkg, path] = /^deb:([^:]+):(.+)$/.exec(e.source)!;
      const { root, version } = await unpackDeb(pkg);
      debianPackages[pkg] = version;
      await addFile(e.path, `${root}${path}`, mode, e.source);
    } else if (e.source.startsWith("file:")) {
      await addFile(e.path, `${repo}/${e.source.slice(5)}`, mode, e.source);
    } else {
      const name = e.source.slice("build:".length);
      const a = artifacts[name];
      if (a === undefined) throw new Error(`staging: ${e.path}: no build artifact "${name}"`);
      await addFile(e.path, a, mode, e.source);
    }
  }

  // Shared libraries: the ldd closure of every ELF file staged above.
  const libs = new Map<string, string>();
  for (const e of [...entries.values()]) {
    if (e.kind !== "file" || !(await isElf(dir + e.path))) continue;
    for (const [img, host] of await libraryClosure(dir + e.path)) libs.set(img, host);
  }
  for (const [img, host] of [...libs].sort()) {
    if (entries.has(img)) continue;
    await addFile(img, await Deno.realPath(host), 0o755, `ldd:${host}`);
  }
  await Deno.chmod(dir, 0o755);
  const sorted = [...entries.values()].sort((a, b) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0
  );
  return { entries: sorted, debianPackages, uuid: manifestUuid(sorted) };
}
