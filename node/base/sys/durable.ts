/**
 * Durable file replacement: after a crash a path holds either its old or its new content, and
 * once the write returns the new content survives a power cut.
 *
 * fsync of the file alone is not enough: the rename and any directory created on the way are
 * changes to directories, which sit in the page cache until writeback (≈ 30 s). A node killed
 * within that window after enrolment came back without its sealed configuration on the ESP
 * (vfat) and registered again as a new node. So every directory whose entries changed is
 * fsynced too: the file's own directory after the rename, and the parent of each directory
 * created for it.
 * @module
 */

/** The filesystem calls a durable write makes; tests inject a recorder. */
export interface DurableOps {
  /** mkdir of one directory (not recursive); throws AlreadyExists when it exists. */
  mkdir(path: string, mode: number): Promise<void>;
  /** Writes `data` to `path` (created or truncated, mode `mode`) and fsyncs it. */
  writeSynced(path: string, data: Uint8Array, mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** fsync of a directory. */
  syncDir(path: string): Promise<void>;
}

/** The real calls. */
export const REAL_OPS: DurableOps = {
  mkdir: (path, mode) => Deno.mkdir(path, { mode }),
  async writeSynced(path, data, mode) {
    const f = await Deno.open(path, { write: true, create: true, truncate: true, mode });
    try {
      // open's mode applies only to a file it creates: a leftover temporary file keeps its own.
      await Deno.chmod(path, mode);
      let off = 0;
      while (off < data.length) off += await f.write(data.subarray(off));
      await f.sync();
    } finally {
      f.close();
    }
  },
  rename: (from, to) => Deno.rename(from, to),
  syncDir,
};

/** fsync of directory `path`: makes its entries' changes (creations, renames) durable. */
export async function syncDir(path: string): Promise<void> {
  const d = await Deno.open(path, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

function parentOf(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/**
 * `mkdir -p dir` whose new entries survive a crash: each directory it creates is followed by an
 * fsync of its parent. Existing directories are left as they are (mode included).
 */
export async function mkdirDurable(
  dir: string,
  mode = 0o700,
  ops: DurableOps = REAL_OPS,
): Promise<void> {
  const missing: string[] = [];
  for (let d = dir.replace(/\/+$/, ""); d !== "" && d !== "/"; d = parentOf(d)) {
    try {
      await ops.mkdir(d, mode);
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) break;
      if (e instanceof Deno.errors.NotFound) {
        missing.push(d);
        continue;
      }
      throw e;
    }
    await ops.syncDir(parentOf(d));
    break;
  }
  // Created top-down once the first existing ancestor was found.
  for (const d of missing.reverse()) {
    await ops.mkdir(d, mode);
    await ops.syncDir(parentOf(d));
  }
}

/**
 * Replaces `path` with `data`: a temporary file beside it is written and fsynced, renamed over
 * `path`, and the directory fsynced. Missing directories are created as by {@link mkdirDurable}.
 */
export async function writeFileDurable(
  path: string,
  data: Uint8Array,
  opts: { mode?: number; dirMode?: number } = {},
  ops: DurableOps = REAL_OPS,
): Promise<void> {
  const dir = parentOf(path);
  await mkdirDurable(dir, opts.dirMode ?? 0o700, ops);
  const tmp = `${path}.tmp`;
  await ops.writeSynced(tmp, data, opts.mode ?? 0o600);
  await ops.rename(tmp, path);
  await ops.syncDir(dir);
}

/** {@link writeFileDurable} of UTF-8 text. */
export function writeTextFileDurable(
  path: string,
  text: string,
  opts: { mode?: number; dirMode?: number } = {},
): Promise<void> {
  return writeFileDurable(path, new TextEncoder().encode(text), opts);
}
