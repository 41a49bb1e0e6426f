/**
 * What a worker leaves behind unless it cleans up (issue #11: removing the role leaves no
 * process, mount or cgroup): container processes (their runc shims re-parent away from
 * containerd and outlive it), the shims themselves, the kubelet's volume mounts and containerd's
 * rootfs/shm/netns mounts, and the kubelet's cgroups. The pure helpers decide from /proc text;
 * {@link cleanupWorker} acts, and runs only after containerd and the kubelet have exited.
 */
import { delay } from "../../base/delay/delay.ts";
import { MNT, umount } from "../../base/sys/mod.ts";
import { cgroupMountPoints, type MountLine, parseMounts } from "../../base/sys/procmounts.ts";
import { KUBEPODS } from "../../core/cgroups/layout.ts";

export { cgroupMountPoints, type MountLine, parseMounts } from "../../base/sys/procmounts.ts";

/** Mount points at or below any of `dirs`, deepest (and latest) first: the unmount order. */
export function mountsBelow(mounts: MountLine[], dirs: string[]): string[] {
  const under = (t: string) =>
    dirs.some((d) => t === d || t.startsWith(d.replace(/\/$/, "") + "/"));
  const hits = mounts.map((m, i) => ({ t: m.target, i })).filter((m) => under(m.t));
  hits.sort((a, b) => b.t.split("/").length - a.t.split("/").length || b.i - a.i);
  return hits.map((h) => h.t);
}

/**
 * The cgroup directory the worker owns in one hierarchy mounted at `mount`: `kubepods`, the
 * kubelet's subtree (cgroupfs driver) below the node's cgroup root. Never the root itself: the
 * node's own groups, the agent's included, live there too (node/core/cgroups).
 */
export function ownedCgroup(mount: string, cgroupRoot: string): string {
  return `${mount}${cgroupRoot.replace(/\/+$/, "")}/${KUBEPODS}`;
}

/** True for a runc v2 shim serving the containerd at `socket` (from /proc/<pid>/cmdline). */
export function isShimOf(argv: string[], socket: string): boolean {
  if (!/(^|\/)containerd-shim(-runc-v2)?$/.test(argv[0] ?? "")) return false;
  const i = argv.indexOf("-address");
  return i >= 0 && argv[i + 1] === socket;
}

/** Every cgroup directory below and including `dir`, children first. */
async function cgroupTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) out.push(...await cgroupTree(`${dir}/${e.name}`));
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out;
    throw e;
  }
  out.push(dir);
  return out;
}

/**
 * Removes the cgroup directory `dir` and everything below it, children first (cgroupfs only
 * removes empty groups). Processes that were just killed leave their groups a moment later, so
 * each removal is retried every 100 ms for up to `attempts` times. Returns what could not be
 * removed (empty: the tree is gone).
 */
export async function removeCgroupTree(dir: string, attempts = 50): Promise<string[]> {
  const problems: string[] = [];
  for (const d of await cgroupTree(dir)) {
    let err: unknown;
    for (let i = 0; i < attempts; i++) {
      try {
        await Deno.remove(d);
        err = undefined;
        break;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          err = undefined;
          break;
        }
        err = e;
        await delay(100);
      }
    }
    if (err) problems.push(`remove cgroup ${d}: ${(err as Error).message}`);
  }
  return problems;
}

async function pidsIn(dir: string): Promise<number[]> {
  const t = await Deno.readTextFile(`${dir}/cgroup.procs`).catch(() => "");
  return t.split("\n").filter((l) => l).map(Number);
}

function kill(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}

/** Options of {@link cleanupWorker}. */
export interface CleanupOptions {
  /** WorkerHost.cgroupRoot. */
  cgroupRoot: string;
  /** containerd's socket (identifies its shims). */
  containerdSocket: string;
  /** Directories whose mounts are released (kubelet root, containerd state and root). */
  mountDirs: string[];
  /** Log lines. */
  log: (line: string) => void;
  /** /proc/self/mounts text; read when absent. */
  mounts?: string;
}

/**
 * Kills every process in the worker's cgroups and every shim of our containerd, unmounts all
 * mounts below `mountDirs`, and removes the owned cgroups. Best effort per item; returns the
 * problems it could not fix (empty: nothing left behind).
 */
export async function cleanupWorker(o: CleanupOptions): Promise<string[]> {
  const problems: string[] = [];
  const mounts = parseMounts(o.mounts ?? await Deno.readTextFile("/proc/self/mounts"));
  const owned = cgroupMountPoints(mounts).map((m) => ownedCgroup(m, o.cgroupRoot));
  let killed = 0;
  for (const dir of owned) {
    for (const d of await cgroupTree(dir)) {
      for (const pid of await pidsIn(d)) {
        kill(pid);
        killed++;
      }
    }
  }
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (isShimOf(cmd.split("\0"), o.containerdSocket)) {
      kill(Number(e.name));
      killed++;
    }
  }
  if (killed) o.log(`killed ${killed} leftover container and shim processes`);

  const targets = mountsBelow(mounts, o.mountDirs);
  for (const t of targets) {
    try {
      umount(t, MNT.DETACH);
    } catch (e) {
      problems.push(`unmount ${t}: ${(e as Error).message}`);
    }
  }
  if (targets.length) o.log(`released ${targets.length} mounts below ${o.mountDirs.join(", ")}`);

  // Killed processes leave their cgroups a moment later; rmdir fails with EBUSY until then.
  for (const dir of owned) problems.push(...await removeCgroupTree(dir));
  return problems;
}

/**
 * Creates the node's cgroup root in every hierarchy (the kubelet insists that it exists), with
 * cpuset.cpus/mems copied from the parent: a v1 cpuset group without them cannot hold tasks.
 * Nothing to do for `/`.
 */
export async function ensureCgroupRoot(cgroupRoot: string, mounts?: string): Promise<void> {
  const root = cgroupRoot.replace(/\/+$/, "");
  if (root === "") return;
  const lines = parseMounts(mounts ?? await Deno.readTextFile("/proc/self/mounts"));
  for (const m of cgroupMountPoints(lines)) {
    const dir = `${m}${root}`;
    await Deno.mkdir(dir, { recursive: true });
    for (const f of ["cpuset.cpus", "cpuset.mems"]) {
      const parent = dir.replace(/\/[^/]+$/, "");
      const v = await Deno.readTextFile(`${parent}/${f}`).catch(() => undefined);
      const cur = await Deno.readTextFile(`${dir}/${f}`).catch(() => undefined);
      if (v !== undefined && cur !== undefined && cur.trim() === "") {
        await Deno.writeTextFile(`${dir}/${f}`, v);
      }
    }
  }
}
