/**
 * Host-global state that Kubernetes workers on namespace nodes change and the launcher must put
 * back: sysctls the kubelet sets at start (not namespaced), and the kubelet's cgroup roots in the
 * host's shared cgroup hierarchies (`metropolis-<node ID>` in every hierarchy, see
 * node/core/platform). Processes inside die with their node's PID namespace; the empty cgroup
 * directories stay until removed here.
 */

/**
 * Host-global sysctls the kubelet sets at start (setupKernelTunables); saved when a cluster is
 * created and restored at teardown.
 */
export const KUBELET_SYSCTLS = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
];

/** Reads the current values of {@link KUBELET_SYSCTLS}. */
export async function saveSysctls(): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const k of KUBELET_SYSCTLS) m.set(k, await Deno.readTextFile(`/proc/sys/${k}`));
  return m;
}

/** Writes saved values back. */
export async function restoreSysctls(saved: Map<string, string>): Promise<void> {
  for (const [k, v] of saved) await Deno.writeTextFile(`/proc/sys/${k}`, v);
}

/** Mount points of the host's cgroup hierarchies (v1 controllers and the unified v2). */
export async function cgroupMounts(): Promise<string[]> {
  const mounts = await Deno.readTextFile("/proc/mounts");
  return mounts.split("\n").map((l) => l.split(" ")).filter((f) =>
    f[2] === "cgroup" || f[2] === "cgroup2"
  ).map((f) => f[1]);
}

/** Removes a cgroup directory tree bottom-up (cgroupfs only allows rmdir of empty groups). */
export async function removeCgroupTree(dir: string): Promise<void> {
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await removeCgroupTree(`${dir}/${e.name}`);
    }
    await Deno.remove(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/**
 * Removes the cgroup directory `name` (one path component) from every host hierarchy, retrying
 * while the last processes of a killed PID namespace leave it (up to ≈ 5 s).
 */
export async function removeCgroupEverywhere(name: string): Promise<void> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`bad cgroup name ${JSON.stringify(name)}`);
  for (const m of await cgroupMounts()) {
    const dir = `${m}/${name}`;
    for (let i = 0; i < 50; i++) {
      try {
        await removeCgroupTree(dir);
        break;
      } catch (e) {
        if (i === 49) throw new Error(`cannot remove cgroup ${dir}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
