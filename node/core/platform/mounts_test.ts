/** Tier-1 test (root) of mountAll in a private mount namespace. */
import assert from "node:assert/strict";

Deno.test("platform mounts: mountAll creates mount points, skips, and fails with a SysError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mk-pid1-mounts-" });
  try {
    const helper = new URL("./testdata/mount_helper.ts", import.meta.url).pathname;
    const root = new URL("../../../deno.json", import.meta.url).pathname;
    const out = await new Deno.Command("unshare", {
      args: [
        "--mount",
        "--propagation",
        "private",
        "--",
        Deno.execPath(),
        "run",
        "-A",
        `--config=${root}`,
        helper,
        dir,
      ],
      stdin: "null",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(r.lines, [
      "created mount point <dir>/a/b",
      "mounted tmpfs at <dir>/a/b",
      "tmpfs already mounted at <dir>/a/b",
      "skipping tmpfs at <dir>/efi: no <dir>/no-such-thing",
      "created mount point <dir>/c",
    ]);
    assert.deepEqual(r.mounts, [["<dir>/a/b", "tmpfs"]]);
    // What is tested: the failure is a SysError naming the mount point and the errno. The kernel
    // answers an unknown filesystem type with ENODEV; once, in a full CI run, it said ENOENT.
    assert.match(
      r.error,
      /^mount\("<dir>\/c"\): (ENODEV: No such device|ENOENT: No such file or directory)$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import { cgroupMounts, namespaceMounts, vmMounts } from "./mounts.ts";

/** /proc/self/cgroup of a process on this project's hybrid host (v1 controllers + unified). */
const HYBRID = `9:name=systemd:/
8:pids:/
4:memory:/process_api/66079349
3:cpuset:/
2:cpu,cpuacct:/
0::/
`;

Deno.test("cgroup mounts: a hybrid host's layout — tmpfs, one cgroup per v1 hierarchy, unified", () => {
  const m = cgroupMounts(HYBRID);
  assert.deepEqual(m.map((x) => `${x.fstype} ${x.target} ${x.data ?? ""}`.trim()), [
    "tmpfs /sys/fs/cgroup mode=0755",
    "cgroup /sys/fs/cgroup/cpu,cpuacct cpu,cpuacct",
    "cgroup /sys/fs/cgroup/cpuset cpuset",
    "cgroup /sys/fs/cgroup/memory memory",
    "cgroup /sys/fs/cgroup/pids pids",
    "cgroup /sys/fs/cgroup/systemd name=systemd",
    "cgroup2 /sys/fs/cgroup/unified",
  ]);
});

Deno.test("cgroup mounts: cgroup2 alone on a unified host, and always on a VM", () => {
  assert.deepEqual(cgroupMounts("0::/user.slice\n").map((x) => `${x.fstype} ${x.target}`), [
    "cgroup2 /sys/fs/cgroup",
  ]);
  const vm = vmMounts().filter((x) => x.target.startsWith("/sys/fs/cgroup"));
  assert.deepEqual(vm.map((x) => x.fstype), ["cgroup2"]);
  const ns = namespaceMounts(HYBRID).map((x) => x.target);
  // The hierarchies follow the tmpfs, after /sys, before /tmp.
  assert.ok(ns.indexOf("/sys") < ns.indexOf("/sys/fs/cgroup"));
  assert.equal(ns.indexOf("/sys/fs/cgroup/memory"), ns.indexOf("/sys/fs/cgroup") + 3);
});
