/**
 * Helper for mounts_test.ts, run under `unshare --mount` so nothing leaks: performs mountAll on
 * specs below `<dir>` and prints `{lines, mounts, error}` as one JSON line.
 */
import { mountAll, type MountSpec } from "../mounts.ts";
import { MS } from "../../../base/sys/mod.ts";

const dir = Deno.args[0];
const specs: MountSpec[] = [
  { fstype: "tmpfs", target: `${dir}/a/b`, flags: MS.NOSUID | MS.NODEV, data: "mode=0711" },
  { fstype: "tmpfs", target: `${dir}/a/b`, flags: 0, unlessMounted: true },
  { fstype: "tmpfs", target: `${dir}/efi`, flags: 0, onlyIfExists: `${dir}/no-such-thing` },
  { fstype: "no-such-fs", target: `${dir}/c`, flags: 0 },
];
const lines: string[] = [];
let error: string | null = null;
try {
  mountAll(specs, (l) => lines.push(l.replaceAll(dir, "<dir>")));
} catch (e) {
  error = (e as Error).message.replaceAll(dir, "<dir>");
}
const mounts = Deno.readTextFileSync("/proc/self/mounts").split("\n")
  .filter((l) => l.includes(dir)).map((l) => l.replaceAll(dir, "<dir>").split(" ").slice(1, 3));
console.log(JSON.stringify({ lines, mounts, error }));
