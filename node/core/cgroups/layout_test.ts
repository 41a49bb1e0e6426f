import assert from "node:assert/strict";
import { cgroupPlan, chooseHierarchy, NODE_GROUPS, sharesFromWeight } from "./layout.ts";

const V2 = { target: "/sys/fs/cgroup", fstype: "cgroup2", options: "rw,nosuid" };
const HYBRID = [
  { target: "/sys/fs/cgroup/cpu,cpuacct", fstype: "cgroup", options: "rw,relatime,cpu,cpuacct" },
  { target: "/sys/fs/cgroup/memory", fstype: "cgroup", options: "rw,relatime,memory" },
  { target: "/sys/fs/cgroup/unified", fstype: "cgroup2", options: "rw,relatime" },
];

Deno.test("cgroup layout: the agent and etcd outweigh the Kubernetes control plane, which outweighs the runtime", () => {
  const w = Object.fromEntries(NODE_GROUPS.map((g) => [g.name, g.cpuWeight]));
  assert.ok(w.system > w["kubernetes-control"]);
  assert.ok(w["kubernetes-control"] > w["kubernetes-runtime"]);
  assert.ok(NODE_GROUPS.every((g) => g.cpuWeight >= 1 && g.cpuWeight <= 10000));
  const protectedGroups = NODE_GROUPS.filter((g) => g.memoryLow).map((g) => g.name);
  assert.deepEqual(protectedGroups, ["system"], "only the agent and etcd get memory protection");
});

Deno.test("cgroup plan: a machine-owning node's groups sit below / of cgroup2, with cpu and memory enabled", () => {
  const p = cgroupPlan("/", {
    kind: "v2",
    mount: "/sys/fs/cgroup",
    controllers: ["cpu", "memory", "io"],
  });
  assert.deepEqual(p.ops.slice(0, 1), [
    { op: "write", path: "/sys/fs/cgroup/cgroup.subtree_control", value: "+cpu +memory" },
  ]);
  assert.equal(p.dirs.system, "/sys/fs/cgroup/system");
  assert.equal(p.dirs["kubernetes-control"], "/sys/fs/cgroup/kubernetes-control");
  assert.equal(p.dirs["kubernetes-runtime"], "/sys/fs/cgroup/kubernetes-runtime");
  for (const g of NODE_GROUPS) {
    assert.ok(p.ops.some((o) =>
      o.op === "write" && o.path === `${p.dirs[g.name]}/cpu.weight` &&
      o.value === String(g.cpuWeight)
    ));
    // Each directory exists before its files are written.
    const mk = p.ops.findIndex((o) => o.op === "mkdir" && o.path === p.dirs[g.name]);
    const wr = p.ops.findIndex((o) => o.op === "write" && o.path.startsWith(`${p.dirs[g.name]}/`));
    assert.ok(mk >= 0 && mk < wr);
  }
  assert.ok(
    p.ops.some((o) =>
      o.op === "write" && o.path === "/sys/fs/cgroup/system/memory.low" && o.value === "268435456"
    ),
  );
});

Deno.test("cgroup plan: a namespace node's groups sit below its own root, memory.low only with the memory controller", () => {
  const p = cgroupPlan("/metropolis-n1/", {
    kind: "v2",
    mount: "/sys/fs/cgroup",
    controllers: ["cpu"],
  });
  assert.deepEqual(p.ops.slice(0, 2), [
    { op: "mkdir", path: "/sys/fs/cgroup/metropolis-n1" },
    { op: "write", path: "/sys/fs/cgroup/metropolis-n1/cgroup.subtree_control", value: "+cpu" },
  ]);
  assert.equal(p.dirs.system, "/sys/fs/cgroup/metropolis-n1/system");
  assert.ok(!p.ops.some((o) => o.path.endsWith("memory.low")));
  assert.match(p.summary, /no memory controller/);
});

Deno.test("cgroup plan: on a cgroup v1 cpu hierarchy the weights become cpu.shares", () => {
  assert.equal(sharesFromWeight(100), 1024);
  const p = cgroupPlan("/metropolis-n1", { kind: "v1-cpu", mount: "/sys/fs/cgroup/cpu,cpuacct" });
  assert.ok(
    !p.ops.some((o) => o.path.endsWith("subtree_control") || o.path.endsWith("memory.low")),
  );
  assert.ok(
    p.ops.some((o) =>
      o.op === "write" && o.path === "/sys/fs/cgroup/cpu,cpuacct/metropolis-n1/system/cpu.shares" &&
      o.value === "10240"
    ),
  );
  assert.throws(() => cgroupPlan("relative", { kind: "v1-cpu", mount: "/x" }), /absolute/);
});

Deno.test("cgroup hierarchy: cgroup2 when it offers cpu, else the v1 cpu hierarchy, else a reason", () => {
  assert.deepEqual(chooseHierarchy([V2], () => ["cpu", "memory"]), {
    kind: "v2",
    mount: "/sys/fs/cgroup",
    controllers: ["cpu", "memory"],
  });
  // A hybrid host: the bare cgroup2 hierarchy has no controllers.
  assert.deepEqual(chooseHierarchy(HYBRID, () => []), {
    kind: "v1-cpu",
    mount: "/sys/fs/cgroup/cpu,cpuacct",
  });
  assert.match(
    chooseHierarchy([V2], () => ["memory"]) as string,
    /cpu controller is not available/,
  );
  assert.match(chooseHierarchy([], () => undefined) as string, /no cgroup hierarchy/);
});
