/**
 * The installer's initramfs (image.md §6): a reproducible `newc` cpio of `/init`, `/agent/*`,
 * the shared libraries, `/etc` and the mount points of the staged system tree, compressed with
 * legacy-format LZ4 (what the kernel's RD_LZ4 reads).
 * @module
 */
import { run } from "../lib/exec.ts";
import type { StagedEntry } from "../system/stage.ts";

/** Staged paths the installer needs (everything else, e.g. etcd, stays out). */
export function installerEntries(entries: StagedEntry[]): StagedEntry[] {
  const keep =
    /^\/(init|agent(\/.*)?|lib(\/.*)?|lib64(\/.*)?|etc(\/.*)?|proc|sys|dev|run|tmp|ephemeral|data|esp)$/;
  return entries.filter((e) => keep.test(e.path));
}

const enc = new TextEncoder();

function header(
  f: { ino: number; mode: number; nlink: number; mtime: number; size: number; rdev?: number },
  name: string,
): Uint8Array {
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0");
  const nameBytes = enc.encode(name + "\0");
  const fields = [
    f.ino,
    f.mode,
    0,
    0,
    f.nlink,
    f.mtime,
    f.size,
    0,
    0,
    (f.rdev ?? 0) >> 8,
    (f.rdev ?? 0) & 0xff,
    nameBytes.length,
    0,
  ];
  const h = enc.encode("070701" + fields.map(hex).join(""));
  const pad = (4 - ((h.length + nameBytes.length) % 4)) % 4;
  const out = new Uint8Array(h.length + nameBytes.length + pad);
  out.set(h);
  out.set(nameBytes, h.length);
  return out;
}

/**
 * Writes the cpio of `entries` (read from the staging tree `root`) plus `/dev/console`, all
 * owned by root with mtime `epoch`, then compresses it to `out` with `lz4 -l -9`.
 */
export async function mkinitramfs(
  root: string,
  entries: StagedEntry[],
  out: string,
  epoch: number,
): Promise<void> {
  const chunks: Uint8Array[] = [];
  let ino = 1;
  const pad = (n: number) => new Uint8Array((4 - (n % 4)) % 4);
  const all = [...entries];
  if (!all.some((e) => e.path === "/dev")) {
    all.push({ path: "/dev", kind: "dir", mode: 0o755, sha256: "", source: "initramfs" });
  }
  all.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const e of all) {
    const name = e.path.slice(1);
    if (e.kind === "dir") {
      chunks.push(
        header({ ino: ino++, mode: 0o040000 | e.mode, nlink: 2, mtime: epoch, size: 0 }, name),
      );
    } else if (e.kind === "symlink") {
      const target = enc.encode(await Deno.readLink(root + e.path));
      chunks.push(
        header({ ino: ino++, mode: 0o120777, nlink: 1, mtime: epoch, size: target.length }, name),
        target,
        pad(target.length),
      );
    } else {
      const data = await Deno.readFile(root + e.path);
      chunks.push(
        header(
          { ino: ino++, mode: 0o100000 | e.mode, nlink: 1, mtime: epoch, size: data.length },
          name,
        ),
        data,
        pad(data.length),
      );
    }
    if (e.path === "/dev") {
      // The kernel opens /dev/console for init before anything can mount devtmpfs.
      chunks.push(
        header(
          { ino: ino++, mode: 0o020600, nlink: 1, mtime: epoch, size: 0, rdev: (5 << 8) | 1 },
          "dev/console",
        ),
      );
    }
  }
  chunks.push(header({ ino: 0, mode: 0, nlink: 1, mtime: 0, size: 0 }, "TRAILER!!!"));
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const cpio = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    cpio.set(c, o);
    o += c.length;
  }
  await run("lz4", ["-l", "-9", "-q", "-f", "-", out], { stdin: cpio });
}
