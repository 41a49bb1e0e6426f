/** /proc/self/mounts as data: one parser for the worker's cleanup, the node's cgroups and the launcher. */

/** One line of /proc/self/mounts. */
export interface MountLine {
  source: string;
  target: string;
  fstype: string;
  options: string;
}

// /proc/mounts escapes space, tab, newline and backslash as octal.
const unescape = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));

/** Parses /proc/self/mounts. */
export function parseMounts(text: string): MountLine[] {
  return text.split("\n").filter((l) => l.trim()).map((l) => {
    const [source, target, fstype, options] = l.split(" ");
    return { source: unescape(source), target: unescape(target), fstype, options };
  });
}

/** Mount points of every cgroup (v1) and cgroup2 hierarchy. */
export function cgroupMountPoints(mounts: MountLine[]): string[] {
  return mounts.filter((m) => m.fstype === "cgroup" || m.fstype === "cgroup2").map((m) => m.target);
}
