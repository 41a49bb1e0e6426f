/**
 * Who holds a mount: open files and working directories of every process below a path,
 * and mounts beneath it, read from /proc. Named in the log when a mount cannot be left, so an
 * operator (and a failing test) sees what kept it busy instead of only EBUSY.
 * @module
 */
import { readStatSync } from "../../base/pid1/procfs.ts";
import { parseMounts } from "../../base/sys/procmounts.ts";

/** At most this many holders are named (a busy mount can have thousands of open files). */
export const MAX_HOLDERS = 8;

function under(path: string, target: string): boolean {
  return path === target || path.startsWith(target.endsWith("/") ? target : `${target}/`);
}

function readLink(p: string): string | undefined {
  try {
    return Deno.readLinkSync(p);
  } catch {
    return undefined; // the process or fd went away, or is not ours to read
  }
}

/**
 * Up to {@link MAX_HOLDERS} descriptions (`pid 131 (deno) fd 23: /data/node/roles.pb`,
 * `mount /data/kubernetes`) of what keeps `target` busy. `proc` is the procfs root (tests).
 */
export function mountHolders(target: string, proc = "/proc"): string[] {
  const out: string[] = [];
  const add = (s: string) => out.length < MAX_HOLDERS && out.push(s);
  try {
    for (const m of parseMounts(Deno.readTextFileSync(`${proc}/self/mounts`))) {
      if (m.target !== target && under(m.target, target)) add(`mount ${m.target}`);
    }
  } catch { /* no mount table: processes only */ }
  let pids: string[] = [];
  try {
    pids = [...Deno.readDirSync(proc)].map((e) => e.name).filter((n) => /^\d+$/.test(n));
  } catch {
    return out;
  }
  for (const pid of pids) {
    if (out.length >= MAX_HOLDERS) break;
    const comm = readStatSync(Number(pid), proc)?.comm ?? "?";
    const cwd = readLink(`${proc}/${pid}/cwd`);
    if (cwd && under(cwd, target)) add(`pid ${pid} (${comm}) cwd: ${cwd}`);
    let fds: string[] = [];
    try {
      fds = [...Deno.readDirSync(`${proc}/${pid}/fd`)].map((e) => e.name);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const l = readLink(`${proc}/${pid}/fd/${fd}`);
      if (l && under(l, target)) add(`pid ${pid} (${comm}) fd ${fd}: ${l}`);
    }
  }
  return out;
}
