import assert from "node:assert/strict";
import { mount } from "../../base/sys/mod.ts";
import {
  cgroupMountPoints,
  cleanupWorker,
  ensureCgroupRoot,
  isShimOf,
  mountsBelow,
  ownedCgroup,
  parseMounts,
  removeCgroupTree,
} from "./cleanup.ts";

const MOUNTS = `tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/name\\040x cgroup rw,relatime,name=x 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
/dev/loop0 /data xfs rw 0 0
tmpfs /data/kubernetes/kubelet/pods/p1/volumes/kubernetes.io~projected/tok tmpfs rw 0 0
overlay /ephemeral/containerd/io.containerd.runtime.v2.task/k8s.io/c1/rootfs overlay rw 0 0
nsfs /ephemeral/containerd/netns/cni-1 nsfs rw 0 0
tmpfs /data/kubernetes/kubelet-other tmpfs rw 0 0
`;

Deno.test("cleanup: cgroup hierarchies from /proc/mounts, octal escapes decoded", () => {
  assert.deepEqual(cgroupMountPoints(parseMounts(MOUNTS)), [
    "/sys/fs/cgroup/cpu",
    "/sys/fs/cgroup/name x",
    "/sys/fs/cgroup/unified",
  ]);
});

Deno.test("cleanup: mounts below the kubelet and containerd dirs, deepest first, not siblings", () => {
  assert.deepEqual(
    mountsBelow(parseMounts(MOUNTS), ["/data/kubernetes/kubelet", "/ephemeral/containerd/"]),
    [
      "/data/kubernetes/kubelet/pods/p1/volumes/kubernetes.io~projected/tok",
      "/ephemeral/containerd/io.containerd.runtime.v2.task/k8s.io/c1/rootfs",
      "/ephemeral/containerd/netns/cni-1",
    ],
  );
});

Deno.test("cleanup: the worker owns only kubepods below the node's cgroup root, never the root with the agent's groups", () => {
  assert.equal(
    ownedCgroup("/sys/fs/cgroup/cpu", "/metropolis-n1"),
    "/sys/fs/cgroup/cpu/metropolis-n1/kubepods",
  );
  assert.equal(ownedCgroup("/sys/fs/cgroup", "/"), "/sys/fs/cgroup/kubepods");
});

Deno.test("cleanup: shims are recognised by binary and containerd address", () => {
  const argv = [
    "/containerd/bin/containerd-shim-runc-v2",
    "-namespace",
    "k8s.io",
    "-id",
    "x",
    "-address",
    "/ephemeral/containerd/client.sock",
  ];
  assert.ok(isShimOf(argv, "/ephemeral/containerd/client.sock"));
  assert.ok(!isShimOf(argv, "/other.sock"));
  assert.ok(
    !isShimOf(
      ["/bin/sleep", "-address", "/ephemeral/containerd/client.sock"],
      "/ephemeral/containerd/client.sock",
    ),
  );
});

Deno.test({
  name: "cleanup: kills processes in kubepods, releases mounts, removes the kubelet's cgroups",
  ignore: Deno.uid() !== 0 || !(() => {
    try {
      return Deno.statSync("/sys/fs/cgroup/pids/cgroup.procs").isFile;
    } catch {
      return false;
    }
  })(),
  fn: async () => {
    const root = `/mk8s-cleanup-test-${Deno.pid}`;
    const dir = await Deno.makeTempDir({ prefix: "mk8s-cleanup-" });
    const child = new Deno.Command("/bin/sleep", { args: ["60"], stdout: "null", stderr: "null" })
      .spawn();
    try {
      await ensureCgroupRoot(root);
      const pods = `/sys/fs/cgroup/pids${root}/kubepods/pod1`;
      await Deno.mkdir(pods, { recursive: true });
      await Deno.writeTextFile(`${pods}/cgroup.procs`, `${child.pid}\n`);
      // cpuset was initialised from the parent, so it can hold tasks.
      const cpus = await Deno.readTextFile(`/sys/fs/cgroup/cpuset${root}/cpuset.cpus`).catch(() =>
        "n/a"
      );
      assert.notEqual(cpus.trim(), "");
      await Deno.mkdir(`${dir}/kubelet/pods/x`, { recursive: true });
      mount("tmpfs", `${dir}/kubelet/pods/x`, "tmpfs", 0, "size=1m");

      const lines: string[] = [];
      const problems = await cleanupWorker({
        cgroupRoot: root,
        containerdSocket: `${dir}/none.sock`,
        mountDirs: [`${dir}/kubelet`],
        log: (l) => lines.push(l),
      });
      assert.deepEqual(problems, []);
      assert.equal((await child.status).signal, "SIGKILL");
      const left = (await Deno.readTextFile("/proc/self/mounts")).includes(`${dir}/kubelet/pods/x`);
      assert.ok(!left, "mount released");
      for (
        const m of cgroupMountPoints(parseMounts(await Deno.readTextFile("/proc/self/mounts")))
      ) {
        await assert.rejects(Deno.stat(`${m}${root}/kubepods`), Deno.errors.NotFound);
      }
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* killed by the test */ }
      await child.status;
      await cleanupWorker({
        cgroupRoot: root,
        containerdSocket: "/none",
        mountDirs: [dir],
        log: () => {},
      });
      for (
        const m of cgroupMountPoints(parseMounts(await Deno.readTextFile("/proc/self/mounts")))
      ) {
        await removeCgroupTree(`${m}${root}`);
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
