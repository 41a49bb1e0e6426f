/**
 * A scratch XFS for tests of directory quotas: a sparse image, formatted and loop-mounted with
 * project quotas (`prjquota`) on a temporary directory. Needs root, `mkfs.xfs` and loop devices.
 */

/** A mounted scratch XFS; {@link close} unmounts it and removes everything. */
export interface ScratchXfs {
  /** The mount point. */
  dir: string;
  close(): Promise<void>;
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/**
 * Creates and mounts the scratch XFS (`options`: mount options; default `prjquota`). 320 MiB is
 * just above mkfs.xfs's minimum; the image is sparse.
 */
export async function scratchXfs(options = "prjquota"): Promise<ScratchXfs> {
  const tmp = await Deno.makeTempDir({ prefix: "metropolis-xfs-" });
  const image = `${tmp}/xfs.img`;
  const dir = `${tmp}/mnt`;
  await Deno.mkdir(dir);
  const f = await Deno.open(image, { create: true, write: true });
  await f.truncate(320 * 1024 * 1024);
  f.close();
  try {
    await run("mkfs.xfs", ["-q", image]);
    await run("mount", ["-o", `loop,${options}`, image, dir]);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true });
    throw e;
  }
  return {
    dir,
    close: async () => {
      await run("umount", [dir]);
      await Deno.remove(tmp, { recursive: true });
    },
  };
}
