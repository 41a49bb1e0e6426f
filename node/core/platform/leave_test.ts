import assert from "node:assert/strict";
import { SysError } from "../../base/sys/errno.ts";
import { leaveMount, type MountCalls } from "./leave.ts";

function calls(umountErr?: string, remountErr?: string): MountCalls & { done: string[] } {
  const done: string[] = [];
  return {
    done,
    umount(t) {
      done.push(`umount ${t}`);
      if (umountErr) throw new SysError("umount2", t, umountErr === "EBUSY" ? 16 : 22, "x");
    },
    remountReadOnly(t) {
      done.push(`ro ${t}`);
      if (remountErr) throw new SysError("mount", t, 16, "Device or resource busy");
    },
    holders: (t) => [`pid 7 (deno) fd 9: ${t}/node/roles.pb`],
  };
}

Deno.test("leaveMount: an idle mount is unmounted without a log line", () => {
  const c = calls();
  const lines: string[] = [];
  assert.equal(leaveMount("/data", (l) => lines.push(l), c), "unmounted");
  assert.deepEqual(c.done, ["umount /data"]);
  assert.deepEqual(lines, []);
});

Deno.test("leaveMount: a busy mount is remounted read-only and says why", () => {
  const c = calls("EBUSY");
  const lines: string[] = [];
  assert.equal(leaveMount("/data", (l) => lines.push(l), c), "read-only");
  assert.deepEqual(c.done, ["umount /data", "ro /data"]);
  assert.deepEqual(lines, [
    "/data: still in use (EBUSY; held by pid 7 (deno) fd 9: /data/node/roles.pb): remounted read-only",
  ]);
});

Deno.test("leaveMount: a path that is not a mount point is left alone", () => {
  const c = calls("EINVAL");
  assert.equal(leaveMount("/esp", () => {}, c), "not mounted");
  assert.deepEqual(c.done, ["umount /esp"]);
});

Deno.test("leaveMount: when neither works it reports both reasons and does not throw", () => {
  const lines: string[] = [];
  assert.equal(leaveMount("/data", (l) => lines.push(l), calls("EBUSY", "EBUSY")), "failed");
  assert.match(
    lines[0],
    /^\/data: cannot unmount \(EBUSY; held by pid 7 .*\) nor remount read-only: mount\(/,
  );
});
