/**
 * Makes the node's cgroups (layout.ts) and places processes into them.
 *
 * Placement is by PID right after spawn (runCommand's `onSpawn`, synchronously, before the agent
 * does anything else): Deno.Command offers neither CLONE_INTO_CGROUP nor a pre-exec hook, and a
 * wrapper that moves itself before exec would need a shell or helper binary on the image. The
 * child runs in the agent's group for the few microseconds until the write; writing to
 * `cgroup.procs` moves all its threads, and none of our children forks that early (containerd's
 * shims come seconds later and then inherit containerd's group).
 *
 * The plan is process-wide state here because a cgroup is a property of processes, not of a
 * runnable: the agent is one process, set up once its node ID (hence its cgroup root) is known.
 * Where the hierarchy lacks what is needed, one line says so and everything runs without weights.
 * @module
 */
import { parseMounts } from "../../base/sys/procmounts.ts";
import { type CgroupPlan, cgroupPlan, chooseHierarchy, type NodeGroup } from "./layout.ts";

let active: CgroupPlan | undefined;
let report: (line: string) => void = () => {};

/**
 * Controllers the children of `root` can get in the cgroup2 hierarchy at `mount`: the root's
 * `cgroup.controllers`, or while it does not exist yet, its parent's `cgroup.subtree_control`.
 */
export function controllersBelow(root: string) {
  return (mount: string): string[] | undefined => {
    const dir = `${mount}${root.replace(/\/+$/, "")}`;
    const read = (p: string) => Deno.readTextFileSync(p).trim().split(/\s+/).filter((c) => c);
    try {
      return read(`${dir}/cgroup.controllers`);
    } catch {
      try {
        return read(`${dir.replace(/\/[^/]*$/, "")}/cgroup.subtree_control`);
      } catch {
        return undefined;
      }
    }
  };
}

function writePid(dir: string, pid: number): void {
  Deno.writeTextFileSync(`${dir}/cgroup.procs`, `${pid}\n`);
}

/** Options of {@link setupNodeCgroups} (tests). */
export interface SetupOptions {
  /** /proc/self/mounts text; read when absent. */
  mounts?: string;
  /** The agent's PID (moved into `system`); default this process. */
  pid?: number;
}

/**
 * Creates the node's groups below `root` and moves the agent into `system`; afterwards
 * {@link placeIn} places children. Never throws: returns undefined (after one log line) when the
 * groups cannot be made, and the node runs without weights.
 */
export function setupNodeCgroups(
  root: string,
  log: (line: string) => void,
  o: SetupOptions = {},
): CgroupPlan | undefined {
  active = undefined;
  try {
    const mounts = parseMounts(o.mounts ?? Deno.readTextFileSync("/proc/self/mounts"));
    const h = chooseHierarchy(mounts, controllersBelow(root));
    if (typeof h === "string") {
      log(`cgroups: ${h}: running without CPU weights`);
      return undefined;
    }
    const plan = cgroupPlan(root, h);
    for (const op of plan.ops) {
      if (op.op === "mkdir") Deno.mkdirSync(op.path, { recursive: true });
      else Deno.writeTextFileSync(op.path, op.value);
    }
    writePid(plan.dirs.system, o.pid ?? Deno.pid);
    active = plan;
    report = log;
    log(`cgroups: ${plan.summary}; the agent runs in ${plan.dirs.system}`);
    return plan;
  } catch (e) {
    log(`cgroups: ${(e as Error).message}: running without CPU weights`);
    return undefined;
  }
}

/** Forgets the set-up groups ({@link placeIn} does nothing afterwards; tests). */
export function resetNodeCgroups(): void {
  active = undefined;
  report = () => {};
}

/**
 * An `onSpawn` for runCommand that moves the child into `group`; does nothing before
 * {@link setupNodeCgroups} succeeded. Never throws (runCommand must go on to own the child): a
 * failed move is logged and the child stays where it is.
 */
export function placeIn(group: NodeGroup): (pid: number) => void {
  return (pid) => {
    if (!active) return;
    try {
      writePid(active.dirs[group], pid);
    } catch (e) {
      report(`cgroups: cannot move PID ${pid} into ${group}: ${(e as Error).message}`);
    }
  };
}
