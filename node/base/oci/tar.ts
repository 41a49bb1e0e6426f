/**
 * A deterministic ustar writer: fixed mtime, owner and order, so the same entries always give
 * the same bytes (and the same OCI digests). Used for image layers and OCI archives.
 */

/** One entry of a tar archive. Paths are relative, `/`-separated, without a leading `./`. */
export interface TarEntry {
  /** Path inside the archive, e.g. `bin/busybox`. */
  path: string;
  /** Kind of entry. */
  type: "file" | "dir" | "symlink";
  /** Permission bits; defaults to 0o755 for directories and 0o644 for files. */
  mode?: number;
  /** File contents (files only). */
  data?: Uint8Array;
  /** Link target (symlinks only). */
  linkTarget?: string;
  /** Owner uid/gid; default 0. */
  uid?: number;
  gid?: number;
}

/** The mtime of every entry: the epoch, for reproducibility. */
export const TAR_MTIME = 0;

const enc = new TextEncoder();

function putString(h: Uint8Array, off: number, len: number, s: string, what: string) {
  const b = enc.encode(s);
  if (b.length > len) throw new Error(`tar: ${what} too long (${b.length} > ${len} bytes): ${s}`);
  h.set(b, off);
}

function putOctal(h: Uint8Array, off: number, len: number, n: number) {
  const s = n.toString(8).padStart(len - 1, "0");
  if (s.length > len - 1) throw new Error(`tar: value ${n} does not fit ${len} bytes`);
  h.set(enc.encode(s), off); // the last byte stays NUL
}

/** Splits a path into ustar (prefix, name) so that name ≤ 100 and prefix ≤ 155 bytes. */
function splitPath(path: string): [string, string] {
  if (enc.encode(path).length <= 100) return ["", path];
  for (let i = path.indexOf("/"); i !== -1; i = path.indexOf("/", i + 1)) {
    const prefix = path.slice(0, i), name = path.slice(i + 1);
    if (enc.encode(prefix).length <= 155 && enc.encode(name).length <= 100) return [prefix, name];
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

function header(e: TarEntry, size: number): Uint8Array {
  const h = new Uint8Array(512);
  const name = e.type === "dir" ? `${e.path}/` : e.path;
  const [prefix, base] = splitPath(name);
  putString(h, 0, 100, base, "name");
  putOctal(h, 100, 8, e.mode ?? (e.type === "file" ? 0o644 : 0o755));
  putOctal(h, 108, 8, e.uid ?? 0);
  putOctal(h, 116, 8, e.gid ?? 0);
  putOctal(h, 124, 12, size);
  putOctal(h, 136, 12, TAR_MTIME);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h[156] = e.type === "file" ? 0x30 : e.type === "dir" ? 0x35 : 0x32;
  if (e.type === "symlink") putString(h, 157, 100, e.linkTarget ?? "", "link target");
  putString(h, 257, 6, "ustar", "magic");
  putString(h, 263, 2, "00", "version");
  putString(h, 345, 155, prefix, "prefix");
  let sum = 0;
  for (const b of h) sum += b;
  putString(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ", "checksum");
  return h;
}

function validate(e: TarEntry) {
  if (!e.path || e.path.startsWith("/") || e.path.split("/").some((p) => p === "" || p === "..")) {
    throw new Error(`tar: bad entry path ${JSON.stringify(e.path)} (relative, no '..', no '//')`);
  }
  if (e.type === "symlink" && !e.linkTarget) {
    throw new Error(`tar: symlink ${e.path} has no target`);
  }
  if (e.type !== "file" && e.data) throw new Error(`tar: ${e.type} ${e.path} must not have data`);
}

/**
 * Writes a tar archive of `entries`, sorted by path, with missing parent directories added
 * (mode 0755). Duplicate paths are an error.
 */
export function writeTar(entries: TarEntry[]): Uint8Array {
  const byPath = new Map<string, TarEntry>();
  for (const e of entries) {
    validate(e);
    if (byPath.has(e.path)) throw new Error(`tar: duplicate entry ${e.path}`);
    byPath.set(e.path, e);
  }
  for (const p of [...byPath.keys()]) {
    const parts = p.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const have = byPath.get(dir);
      if (!have) byPath.set(dir, { path: dir, type: "dir" });
      else if (have.type !== "dir") throw new Error(`tar: ${dir} is not a directory but has ${p}`);
    }
  }
  const sorted = [...byPath.values()].sort((
    a,
    b,
  ) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (const e of sorted) {
    const data = e.data ?? new Uint8Array(0);
    const h = header(e, data.length);
    chunks.push(h, data);
    const pad = (512 - (data.length % 512)) % 512;
    chunks.push(new Uint8Array(pad));
    total += 512 + data.length + pad;
  }
  chunks.push(new Uint8Array(1024)); // end-of-archive marker: two zero blocks
  total += 1024;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
