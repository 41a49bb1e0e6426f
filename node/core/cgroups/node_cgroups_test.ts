import assert from "node:assert/strict";
import { cgroupMountPoints, parseMounts } from "../../base/sys/procmounts.ts";
import { chooseHierarchy, sharesFromWeight } from "./layout.ts";
import { controllersBelow, placeIn, resetNodeCgroups, setupNodeCgroups } from "./node_cgroups.ts";

/** A directory tree standing in for a cgroup2 mount (plain files: no cgroupfs needed). */
async function fakeV2(controllers: string) {
  const mount = await Deno.makeTempDir({ prefix: "cgroup-fake-" });
  // A real root lists what it has (cgroup.controllers) and what its children get (subtree_control).
  await Deno.writeTextFile(`${mount}/cgroup.controllers`, controllers);
  await Deno.writeTextFile(`${mount}/cgroup.subtree_control`, controllers);
  return { mount, mounts: `cgroup2 ${mount} cgroup2 rw,nosuid 0 0\n` };
}

Deno.test("node cgroups: creates the groups with weights, moves the agent into system, places children by group", async () => {
  const { mount, mounts } = await fakeV2("cpu memory\n");
  const lines: string[] = [];
  try {
    const plan = setupNodeCgroups("/metropolis-n1", (l) => lines.push(l), { mounts, pid: 4242 });
    assert.ok(plan);
    const root = `${mount}/metropolis-n1`;
    assert.equal(await Deno.readTextFile(`${root}/cgroup.subtree_control`), "+cpu +memory");
    assert.equal(await Deno.readTextFile(`${root}/system/cpu.weight`), "1000");
    assert.equal(await Deno.readTextFile(`${root}/system/cgroup.procs`), "4242\n");
    placeIn("kubernetes-control")(77);
    assert.equal(await Deno.readTextFile(`${root}/kubernetes-control/cgroup.procs`), "77\n");
    assert.deepEqual(lines, [
      `cgroups: cgroup v2 at ${root}: cpu.weight and memory.low; the agent runs in ${root}/system`,
    ]);
  } finally {
    resetNodeCgroups();
    await Deno.remove(mount, { recursive: true });
  }
});

Deno.test("node cgroups: without a cpu controller one line says so and placement does nothing", async () => {
  const { mount, mounts } = await fakeV2("memory\n");
  const lines: string[] = [];
  try {
    assert.equal(setupNodeCgroups("/", (l) => lines.push(l), { mounts, pid: 1 }), undefined);
    placeIn("kubernetes-runtime")(77);
    assert.deepEqual([...Deno.readDirSync(mount)].filter((e) => e.isDirectory), [], "no groups");
    assert.equal(lines.length, 1);
    assert.match(lines[0], /cpu controller is not available.*running without CPU weights/);
  } finally {
    resetNodeCgroups();
    await Deno.remove(mount, { recursive: true });
  }
});

Deno.test("node cgroups: a failed move is logged, never thrown (runCommand must keep its child)", async () => {
  const { mount, mounts } = await fakeV2("cpu\n");
  const lines: string[] = [];
  try {
    assert.ok(setupNodeCgroups("/", (l) => lines.push(l), { mounts, pid: 1 }));
    await Deno.remove(`${mount}/kubernetes-runtime`, { recursive: true });
    placeIn("kubernetes-runtime")(77);
    assert.match(lines.at(-1)!, /cannot move PID 77 into kubernetes-runtime/);
  } finally {
    resetNodeCgroups();
    await Deno.remove(mount, { recursive: true });
  }
});

/** Removes `dir` and its group directories (killed processes leave them a moment later). */
async function removeGroups(dir: string): Promise<void> {
  let subs: string[];
  try {
    subs = [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => `${dir}/${e.name}`);
  } catch {
    return; // not made in this hierarchy
  }
  for (const d of [...subs, dir]) {
    for (let i = 0;; i++) {
      try {
        await Deno.remove(d);
        break;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) break;
        if (i === 50) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

Deno.test({
  name: "node cgroups on this machine's real hierarchy: weights written, processes placed",
  ignore: Deno.uid() !== 0,
}, async () => {
  const mounts = parseMounts(await Deno.readTextFile("/proc/self/mounts"));
  const root = `/metropolis-cgtest-${Deno.pid}`;
  const h = chooseHierarchy(mounts, controllersBelow(root));
  if (typeof h === "string") {
    console.log(`skipped: ${h}`);
    return;
  }
  const spawn = () =>
    new Deno.Command("/bin/sleep", { args: ["60"], stdout: "null", stderr: "null" }).spawn();
  // Children stand in for the agent and the apiserver: the test process itself stays put.
  const agent = spawn();
  const apiserver = spawn();
  const lines: string[] = [];
  try {
    const plan = setupNodeCgroups(root, (l) => lines.push(l), { pid: agent.pid });
    assert.ok(plan, lines.join("\n"));
    placeIn("kubernetes-control")(apiserver.pid);
    const file = h.kind === "v2" ? "cpu.weight" : "cpu.shares";
    const expected = h.kind === "v2" ? "1000" : String(sharesFromWeight(1000));
    assert.equal((await Deno.readTextFile(`${plan.dirs.system}/${file}`)).trim(), expected);
    const rel = (dir: string) => dir.slice(h.mount.length);
    const cg = (pid: number) => Deno.readTextFileSync(`/proc/${pid}/cgroup`);
    assert.ok(cg(agent.pid).includes(`:${rel(plan.dirs.system)}\n`), cg(agent.pid));
    assert.ok(
      cg(apiserver.pid).includes(`:${rel(plan.dirs["kubernetes-control"])}\n`),
      cg(apiserver.pid),
    );
  } finally {
    resetNodeCgroups();
    for (const c of [agent, apiserver]) {
      c.kill("SIGKILL");
      await c.status;
    }
    for (const m of cgroupMountPoints(mounts)) await removeGroups(`${m}${root}`);
  }
});
