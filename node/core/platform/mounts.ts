/**
 * The bring-up mounts of node.md §2 step 4, per platform, and the code that performs them.
 */
import { mount, MS, SysError } from "../../base/sys/mod.ts";

/** One mount of the bring-up. */
export interface MountSpec {
  /** Filesystem type (also used as the source). */
  fstype: string;
  /** Mount point. */
  target: string;
  /** mount(2) flags. */
  flags: number;
  /** Option string, if any. */
  data?: string;
  /** Skip when this fstype is already mounted at the target (devtmpfs: the kernel may have). */
  unlessMounted?: boolean;
  /** Only when this path exists (efivarfs: only on EFI boots). */
  onlyIfExists?: string;
}

const NOSUID_NODEV = MS.NOSUID | MS.NODEV;
const NOEXEC = NOSUID_NODEV | MS.NOEXEC;

/**
 * The cgroup mounts below /sys/fs/cgroup for a node whose processes' cgroups are described by
 * `procSelfCgroup` (the text of /proc/self/cgroup): cgroup2 alone on a unified host (and on every
 * VM, whose kernel is ours); on a host with v1 controller hierarchies (a namespace node on a
 * hybrid host) the host's layout: a tmpfs, one `cgroup` mount per v1 hierarchy with the same
 * controller set (which attaches to the existing hierarchy; the kubelet and runc need the
 * controllers, and the bare cgroup2 hierarchy has none of them there), and cgroup2 at `unified`.
 * A namespace node shares the host's cgroup namespace, so these are the host's hierarchies.
 */
export function cgroupMounts(procSelfCgroup?: string): MountSpec[] {
  const v1: string[] = [];
  let unified = false;
  for (const line of (procSelfCgroup ?? "").split("\n")) {
    const m = /^(\d+):([^:]*):/.exec(line);
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") unified = true;
    else if (m[2] !== "") v1.push(m[2]);
  }
  if (v1.length === 0) return [{ fstype: "cgroup2", target: "/sys/fs/cgroup", flags: NOEXEC }];
  const out: MountSpec[] = [
    { fstype: "tmpfs", target: "/sys/fs/cgroup", flags: NOEXEC, data: "mode=0755" },
  ];
  // Directory names as systemd and the host use them (`name=systemd` → `systemd`).
  const dirs = v1.map((c) => ({ c, dir: c.replace(/^name=/, "") }));
  for (const { c, dir } of dirs.sort((a, b) => a.dir < b.dir ? -1 : 1)) {
    out.push({ fstype: "cgroup", target: `/sys/fs/cgroup/${dir}`, flags: NOEXEC, data: c });
  }
  if (unified) out.push({ fstype: "cgroup2", target: "/sys/fs/cgroup/unified", flags: NOEXEC });
  return out;
}

/** What decides a platform's bring-up mounts. */
export interface MountOptions {
  /** The node owns its kernel's devices: mount devtmpfs at /dev (else /dev is prepared). */
  devtmpfs: boolean;
  /** Mount efivarfs (only if the machine booted through EFI). */
  efivarfs: boolean;
  /**
   * /proc/self/cgroup of the host whose cgroup hierarchies the node shares (read before a
   * namespace node's pivot hides the host's /proc); absent: the node's own cgroup2.
   */
  hostCgroups?: string;
}

/** The bring-up mounts, in order, for a platform described by `o`. */
export function bringUpMounts(o: MountOptions): MountSpec[] {
  const all: (MountSpec | false)[] = [
    { fstype: "proc", target: "/proc", flags: NOEXEC },
    { fstype: "sysfs", target: "/sys", flags: NOEXEC },
    o.devtmpfs && {
      fstype: "devtmpfs",
      target: "/dev",
      flags: MS.NOSUID,
      data: "mode=0755",
      unlessMounted: true,
    },
    { fstype: "devpts", target: "/dev/pts", flags: MS.NOSUID | MS.NOEXEC, data: "ptmxmode=0666" },
    { fstype: "tmpfs", target: "/dev/shm", flags: NOSUID_NODEV, data: "mode=1777" },
    { fstype: "securityfs", target: "/sys/kernel/security", flags: NOEXEC },
    ...cgroupMounts(o.hostCgroups),
    o.efivarfs && {
      fstype: "efivarfs",
      target: "/sys/firmware/efi/efivars",
      flags: NOEXEC,
      onlyIfExists: "/sys/firmware/efi",
    },
    { fstype: "tmpfs", target: "/tmp", flags: NOSUID_NODEV, data: "mode=1777" },
    { fstype: "tmpfs", target: "/run", flags: NOSUID_NODEV, data: "mode=0755" },
    { fstype: "tmpfs", target: "/ephemeral", flags: NOSUID_NODEV, data: "mode=0755" },
  ];
  return all.filter((m): m is MountSpec => m !== false);
}

/** A VM's mounts: its own devices, efivarfs, its own cgroup2 hierarchy. */
export function vmMounts(): MountSpec[] {
  return bringUpMounts({ devtmpfs: true, efivarfs: true });
}

/**
 * A namespace node's mounts: no devtmpfs (its /dev is prepared by the private root), no
 * efivarfs, and the host's cgroup layout ({@link cgroupMounts} of `hostCgroups`).
 */
export function namespaceMounts(hostCgroups?: string): MountSpec[] {
  return bringUpMounts({ devtmpfs: false, efivarfs: false, hostCgroups });
}

function mountedFstype(target: string): string | undefined {
  try {
    let found: string | undefined;
    for (const l of Deno.readTextFileSync("/proc/self/mounts").split("\n")) {
      const f = l.split(" ");
      if (f[1] === target) found = f[2];
    }
    return found;
  } catch {
    return undefined; // no /proc yet
  }
}

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Performs `mounts` in order, logging one line per mount through `log`. Throws the first
 * {@link SysError} (a bring-up failure is fatal).
 */
export function mountAll(mounts: MountSpec[], log: (line: string) => void): void {
  for (const m of mounts) {
    if (m.onlyIfExists && !exists(m.onlyIfExists)) {
      log(`skipping ${m.fstype} at ${m.target}: no ${m.onlyIfExists}`);
      continue;
    }
    if (m.unlessMounted && mountedFstype(m.target) === m.fstype) {
      log(`${m.fstype} already mounted at ${m.target}`);
      continue;
    }
    if (!exists(m.target)) {
      // devtmpfs has no /dev/pts or /dev/shm; on a read-only root mkdir fails and mount says why.
      try {
        Deno.mkdirSync(m.target, { recursive: true, mode: 0o755 });
        log(`created mount point ${m.target}`);
      } catch {
        // reported by mount(2) as ENOENT below
      }
    }
    try {
      mount(m.fstype, m.target, m.fstype, m.flags, m.data);
    } catch (e) {
      // sysfs and securityfs of the same network namespace cannot be mounted twice on the same
      // place (EBUSY): a namespace node sharing the host's network namespace already has them.
      if (e instanceof SysError && e.code === "EBUSY" && mountedFstype(m.target) === m.fstype) {
        log(`${m.fstype} already mounted at ${m.target} (EBUSY), keeping it`);
        continue;
      }
      throw e;
    }
    log(`mounted ${m.fstype} at ${m.target}`);
  }
}
