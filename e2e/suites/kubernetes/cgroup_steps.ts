/**
 * The node's cgroups on a namespace node (issue #13, node/core/cgroups): seen from the host, in
 * the hierarchy the node chose by the same rule, each group carries its weight and the control
 * plane's processes sit in their groups (etcd in `system`, kube-apiserver in
 * `kubernetes-control`).
 */
import { parseMounts } from "../../../node/base/sys/procmounts.ts";
import { cgroupPlan, chooseHierarchy } from "../../../node/core/cgroups/layout.ts";
import { controllersBelow } from "../../../node/core/cgroups/node_cgroups.ts";
import { permanent, testEventual } from "../eventual.ts";

/**
 * Checks node `nodeId`'s groups (cgroup root `/metropolis-<id>`, as Platform.workerHost gives a
 * namespace node); `pidsOf(word)` lists host PIDs of that node's processes named `word`.
 */
export async function nodeCgroupSteps(
  nodeId: string,
  pidsOf: (word: string) => Promise<number[]>,
): Promise<void> {
  const root = `/metropolis-${nodeId}`;
  const mounts = parseMounts(await Deno.readTextFile("/proc/self/mounts"));
  const h = chooseHierarchy(mounts, controllersBelow(root));
  if (typeof h === "string") {
    console.log(`  skipped: node cgroups: ${h} (the node runs without CPU weights here)`);
    return;
  }
  const plan = cgroupPlan(root, h);
  await testEventual(
    "node cgroups: weights set, etcd in system, kube-apiserver in kubernetes-control",
    60,
    async () => {
      for (const op of plan.ops) {
        if (op.op !== "write" || op.path.endsWith("cgroup.subtree_control")) continue;
        const v = (await Deno.readTextFile(op.path)).trim();
        if (v !== op.value) throw permanent(`${op.path} is ${v}, expected ${op.value}`);
      }
      const procs = async (dir: string) =>
        (await Deno.readTextFile(`${dir}/cgroup.procs`)).split("\n").filter(Boolean).map(Number);
      for (
        const [word, group] of [
          ["etcd", "system"],
          ["kube-apiserver", "kubernetes-control"],
        ] as const
      ) {
        const pids = await pidsOf(word);
        if (pids.length === 0) throw new Error(`no ${word} process yet`);
        const inGroup = await procs(plan.dirs[group]);
        const stray = pids.filter((p) => !inGroup.includes(p));
        if (stray.length) throw permanent(`${word} PIDs ${stray} are not in ${plan.dirs[group]}`);
      }
      console.log(`  ${plan.summary}: weights and placement as planned`);
    },
  );
}
