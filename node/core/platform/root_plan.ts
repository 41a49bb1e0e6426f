/**
 * What a namespace node's private root holds (node.md §2 "Namespace node", testing.md §2.2), as a
 * pure list of steps: {@link rootPlan} decides, namespace_root.ts performs. Every host path the
 * node can see is named in the constants below; making one more visible (e.g. a Kubernetes
 * binary) is one line in {@link HOST_BINDS}.
 *
 * The node's view after `pivot_root`:
 * - `/usr` (read-only host bind) and the merged-usr symlinks `/bin`, `/sbin`, `/lib`, `/lib64`
 *   exactly as the host has them (a host directory instead of a symlink is bound read-only);
 * - `/etc`: a tmpfs with copies of {@link ETC_COPIES} and the symlinks {@link ETC_EPHEMERAL_LINKS}
 *   into `/ephemeral` (image.md §3);
 * - `/agent` (read-only tmpfs): `agent.js` and `proto/` of the bundle the agent runs from, and
 *   `deno`, the runtime executing it. A split bundle's chunks are not needed: Deno reads every
 *   literal `import()` of the bundle into its module graph when it starts, before the pivot
 *   (os-image/tools/bundle_test.ts checks that), and no host path of the bundle is visible;
 * - `/esp` = `<state>/esp`, `/data` = `<state>/data` or the XFS loop image `<state>/data.img`
 *   (with `prjquota` when the kernel's XFS has quotas);
 * - `/dev` (tmpfs): {@link DEV_NODES} bound from the host, `ptmx` → `pts/ptmx`, `pts/`, `shm/`,
 *   and the loop device backing `/data`;
 * - `/tpm/sock` = the swtpm socket when `--tpm-socket` is given;
 * - `/kubernetes` and `/containerd` (read-only) = `<payloads>/kubernetes` and
 *   `<payloads>/containerd` when `--payloads` is given (node/kubernetes/paths.ts);
 * - `/dev/kmsg` when the host has it (the kubelet's OOM watcher refuses to start without it);
 * - `/var` → `/ephemeral/var`: the kubelet and CNI write below hard-coded `/var` paths
 *   (`/var/log/containers`, `/var/lib/cni`), which must land on the node's tmpfs;
 * - empty mount points for the bring-up mounts (`/proc`, `/sys`, `/tmp`, `/run`, `/ephemeral`);
 * - `/` and `/etc` read-only (remounted last), as on a VM.
 * The state directory itself and everything else of the host are gone.
 */
import { MS } from "../../base/sys/mod.ts";
import { XFS_QUOTA_PROC } from "../../base/fsquota/fsquota.ts";
import { namespaceMounts } from "./mounts.ts";

/** Read-only host directories bound at the same path inside the node. */
export const HOST_BINDS: readonly string[] = ["/usr"];
/** The merged-usr top-level entries, recreated as the host has them (symlink or directory). */
export const MERGED_USR: readonly string[] = ["/bin", "/sbin", "/lib", "/lib64"];
/** Host `/etc` entries copied into the node's `/etc` (files or directory trees). */
export const ETC_COPIES: readonly string[] = [
  "passwd",
  "group",
  "nsswitch.conf",
  "ssl",
  // The dynamic linker's cache (host binaries from /usr/bin, e.g. etcd, are dynamically linked).
  "ld.so.cache",
  // Debian's /usr/bin/<tool> → /etc/alternatives/<tool> → /usr/... symlinks.
  "alternatives",
];
/** `/etc/<name>` → `/ephemeral/<name>` symlinks (the targets are written by the agent). */
export const ETC_EPHEMERAL_LINKS: readonly string[] = ["hosts", "resolv.conf", "machine-id"];
/** Host character devices bound into the node's `/dev`. */
export const DEV_NODES: readonly string[] = ["null", "zero", "full", "random", "urandom", "tty"];
/** `/<name>` → `/ephemeral/<name>` symlinks at the root (the worker creates what it needs). */
export const ROOT_EPHEMERAL_LINKS: readonly string[] = ["var"];
/** Payload directories below `--payloads`, bound read-only at `/<name>`. */
export const PAYLOADS: readonly string[] = ["kubernetes", "containerd"];
/** Where the node sees the agent bundle, the runtime and the TPM socket. */
export const AGENT_DIR = "/agent";
/** The swtpm socket inside the node. */
export const TPM_SOCKET = "/tpm/sock";

/** One step of building the root; targets are paths inside the new root. */
export type RootStep =
  | { op: "tmpfs"; target: string; data: string; flags: number }
  | { op: "bind"; source: string; target: string; readonly: boolean; file: boolean }
  | { op: "mount"; source: string; target: string; fstype: string; flags: number; data?: string }
  | { op: "symlink"; target: string; to: string }
  | { op: "copy"; source: string; target: string }
  | { op: "dir"; target: string }
  /** Remount read-only once everything below it is in place. */
  | { op: "readonly"; target: string; flags: number };

/** What the host has at a path (from lstat), or undefined when absent. */
export type HostEntry = { kind: "symlink"; to: string } | { kind: "dir" } | { kind: "file" };

/** Inputs of {@link rootPlan}. */
export interface RootInput {
  /** `--state`: the node's directory on the host. */
  state: string;
  /** `/data`: a host directory, or a loop device already holding XFS. */
  data: { kind: "dir"; path: string } | { kind: "loop"; device: string };
  /**
   * The agent: a bundle (`main` = its file, with `proto/` next to it), or a source run, whose
   * files and npm cache stay visible at their host paths (tests of node/main.ts only).
   */
  agent:
    | { kind: "bundle"; main: string; protoDir?: string }
    | { kind: "source"; paths: string[] };
  /** The Deno executable running the agent. */
  deno: string;
  /** `--tpm-socket` (host path), if any. */
  tpmSocket?: string;
  /** `--payloads` (host directory), if any. */
  payloads?: string;
  /** lstat of a host path. */
  host(path: string): HostEntry | undefined;
}

const NOSUID_NODEV = MS.NOSUID | MS.NODEV;

/**
 * Why a source run cannot keep `path` at its host path, or undefined when it can: a path below a
 * top-level entry the root makes a symlink into /ephemeral (`/var`) would need that entry as a
 * directory first, and the node's writes to it would then land in the read-only root.
 */
export function sourcePathConflict(path: string): string | undefined {
  const top = path.split("/")[1];
  if (!ROOT_EPHEMERAL_LINKS.includes(top)) return undefined;
  return `a source run needs ${path} at its host path, but a node's root makes /${top} a ` +
    `symlink to /ephemeral/${top}; run the agent from a checkout outside /${top}`;
}

/** The steps building the private root, in order (see the module comment). */
export function rootPlan(input: RootInput): RootStep[] {
  if (input.agent.kind === "source") {
    for (const p of input.agent.paths) {
      const why = sourcePathConflict(p);
      if (why) throw new Error(why);
    }
  }
  const steps: RootStep[] = [];
  for (const p of HOST_BINDS) {
    steps.push({ op: "bind", source: p, target: p, readonly: true, file: false });
  }
  for (const p of MERGED_USR) {
    const h = input.host(p);
    if (h?.kind === "symlink") steps.push({ op: "symlink", target: p, to: h.to });
    else if (h?.kind === "dir") {
      steps.push({ op: "bind", source: p, target: p, readonly: true, file: false });
    }
  }

  steps.push({ op: "tmpfs", target: "/etc", data: "mode=0755", flags: NOSUID_NODEV | MS.NOEXEC });
  for (const name of ETC_COPIES) {
    if (input.host(`/etc/${name}`)) {
      steps.push({ op: "copy", source: `/etc/${name}`, target: `/etc/${name}` });
    }
  }
  for (const name of ETC_EPHEMERAL_LINKS) {
    steps.push({ op: "symlink", target: `/etc/${name}`, to: `/ephemeral/${name}` });
  }

  steps.push({ op: "tmpfs", target: AGENT_DIR, data: "mode=0755", flags: MS.NOSUID | MS.NODEV });
  steps.push({
    op: "bind",
    source: input.deno,
    target: `${AGENT_DIR}/deno`,
    readonly: true,
    file: true,
  });
  if (input.agent.kind === "bundle") {
    steps.push({
      op: "bind",
      source: input.agent.main,
      target: `${AGENT_DIR}/agent.js`,
      readonly: true,
      file: true,
    });
    if (input.agent.protoDir) {
      steps.push({
        op: "bind",
        source: input.agent.protoDir,
        target: `${AGENT_DIR}/proto`,
        readonly: true,
        file: false,
      });
    }
  } else {
    for (const p of input.agent.paths) {
      steps.push({ op: "bind", source: p, target: p, readonly: true, file: false });
    }
  }
  steps.push({ op: "readonly", target: AGENT_DIR, flags: MS.NOSUID | MS.NODEV });

  steps.push({ op: "dir", target: "/esp" });
  steps.push({
    op: "bind",
    source: `${input.state}/esp`,
    target: "/esp",
    readonly: false,
    file: false,
  });
  steps.push({ op: "dir", target: "/data" });
  if (input.data.kind === "dir") {
    steps.push({
      op: "bind",
      source: input.data.path,
      target: "/data",
      readonly: false,
      file: false,
    });
  } else {
    // Project quotas (the CSI volumes' size limits) when the kernel has XFS quota support: XFS
    // refuses `prjquota` on a kernel without it, so the option follows the capability.
    const quota = input.host(XFS_QUOTA_PROC) ? { data: "prjquota" } : {};
    steps.push({
      op: "mount",
      source: input.data.device,
      target: "/data",
      fstype: "xfs",
      flags: NOSUID_NODEV,
      ...quota,
    });
  }

  steps.push({ op: "tmpfs", target: "/dev", data: "mode=0755", flags: MS.NOSUID | MS.NOEXEC });
  for (const d of DEV_NODES) {
    steps.push({
      op: "bind",
      source: `/dev/${d}`,
      target: `/dev/${d}`,
      readonly: false,
      file: true,
    });
  }
  if (input.host("/dev/kmsg")) {
    steps.push({
      op: "bind",
      source: "/dev/kmsg",
      target: "/dev/kmsg",
      readonly: false,
      file: true,
    });
  }
  if (input.data.kind === "loop") {
    const d = input.data.device;
    steps.push({ op: "bind", source: d, target: d, readonly: false, file: true });
  }
  steps.push({ op: "symlink", target: "/dev/ptmx", to: "pts/ptmx" });

  if (input.tpmSocket) {
    steps.push({
      op: "bind",
      source: input.tpmSocket,
      target: TPM_SOCKET,
      readonly: false,
      file: true,
    });
  }

  if (input.payloads) {
    for (const name of PAYLOADS) {
      const source = `${input.payloads}/${name}`;
      if (input.host(source)) {
        steps.push({ op: "bind", source, target: `/${name}`, readonly: true, file: false });
      }
    }
  }
  for (const name of ROOT_EPHEMERAL_LINKS) {
    steps.push({ op: "symlink", target: `/${name}`, to: `/ephemeral/${name}` });
  }

  // Mount points of the bring-up mounts (/dev/pts and /dev/shm included), created here because
  // the root becomes read-only next. (Those below /sys exist once sysfs is mounted.)
  for (const m of namespaceMounts()) {
    if (!m.target.startsWith("/sys/")) steps.push({ op: "dir", target: m.target });
  }
  // Read-only like a VM's erofs root: `/etc` (its writable entries are symlinks into
  // /ephemeral) and the root itself; writable are only the mounts on top (/data, /esp, /dev,
  // /tmp, /run, /ephemeral), so code that writes anywhere else fails here as it would on a VM.
  steps.push({ op: "readonly", target: "/etc", flags: NOSUID_NODEV | MS.NOEXEC });
  steps.push({ op: "readonly", target: "/", flags: 0 });
  return steps;
}
