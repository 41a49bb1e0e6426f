/**
 * The namespace node's private root (node.md §2 "Namespace node", testing.md §2.2).
 *
 * {@link prepareNamespaceRoot} is called once by the agent's bring-up on the `namespace`
 * platform, inside the node's private mount namespace and before the bring-up mounts. It mounts a
 * tmpfs on `<state>/root` (an empty directory on the host), fills it as root_plan.ts says (binds,
 * copies, `/data` on a directory or a loop-mounted XFS image), then `pivot_root`s into it and
 * detaches the host's root: afterwards the node sees only what the plan named. The bring-up
 * mounts (`/proc`, `/sys`, `/tmp`, …) follow as on a VM.
 *
 * The agent is started by `/init` with host paths (the exec happens before the pivot); once this
 * returns it runs as `/agent/deno` on `/agent/agent.js`, and the TPM socket is `/tpm/sock`.
 */
import { MNT, mount, MS, umount } from "../../base/sys/mod.ts";
import { cstr, lazyLibc } from "../../base/sys/libc.ts";
import { check } from "../../base/sys/errno.ts";
import type { AgentFlags } from "./flags.ts";
import type { LoopDevice } from "./loop.ts";
import {
  type HostEntry,
  type RootInput,
  rootPlan,
  type RootStep,
  TPM_SOCKET,
} from "./root_plan.ts";
import { dataSource, prepareLoopData } from "./storage.ts";

const SYS_PIVOT_ROOT = 155; // x86_64

const libc = lazyLibc({
  syscall: { parameters: ["i64", "buffer", "buffer"], result: "i64" },
});

/** pivot_root(2) (glibc has no wrapper). */
function pivotRoot(newRoot: string, putOld: string): void {
  const s = libc();
  check(s, s.syscall(BigInt(SYS_PIVOT_ROOT), cstr(newRoot), cstr(putOld)), "pivot_root", newRoot);
}

function hostEntry(path: string): HostEntry | undefined {
  try {
    const st = Deno.lstatSync(path);
    if (st.isSymlink) return { kind: "symlink", to: Deno.readLinkSync(path) };
    return st.isDirectory ? { kind: "dir" } : { kind: "file" };
  } catch {
    return undefined;
  }
}

function parentOf(p: string): string {
  return p.replace(/\/[^/]+\/?$/, "") || "/";
}

/** Nearest directory at or above `dir` holding a deno.json (the repository of a source run). */
function repositoryOf(dir: string): string | undefined {
  for (let d = dir; d !== "/"; d = parentOf(d)) {
    if (hostEntry(`${d}/deno.json`)) return d;
  }
  return undefined;
}

/**
 * The agent's files: the bundle it runs from (`*.js`, with `proto/` beside it; the chunks of a
 * split bundle are in Deno's module graph since start-up, see root_plan.ts), or for a source run
 * (`node/main.ts`, tests only) the repository and Deno's cache at their host paths.
 */
export function agentFiles(mainModule = Deno.mainModule): RootInput["agent"] {
  const url = new URL(mainModule);
  if (url.protocol !== "file:") throw new Error(`agent main module ${mainModule} is not a file`);
  const main = decodeURIComponent(url.pathname);
  if (main.endsWith(".js")) {
    const dir = parentOf(main);
    const proto = `${dir}/proto`;
    return {
      kind: "bundle",
      main,
      ...(hostEntry(proto) ? { protoDir: proto } : {}),
    };
  }
  const env = Deno.env.toObject();
  const denoDir = env.DENO_DIR ||
    `${env.XDG_CACHE_HOME || `${env.HOME || "/root"}/.cache`}/deno`;
  const paths = [repositoryOf(parentOf(main)) ?? parentOf(main), denoDir]
    .filter((p) => hostEntry(p)?.kind === "dir" && !p.startsWith("/usr/"));
  return { kind: "source", paths };
}

function mkdirp(p: string): void {
  Deno.mkdirSync(p, { recursive: true, mode: 0o755 });
}

function copyTree(src: string, dst: string): void {
  const st = Deno.lstatSync(src);
  if (st.isSymlink) {
    Deno.symlinkSync(Deno.readLinkSync(src), dst);
  } else if (st.isDirectory) {
    Deno.mkdirSync(dst, { mode: (st.mode ?? 0o755) & 0o7777 });
    for (const e of Deno.readDirSync(src)) copyTree(`${src}/${e.name}`, `${dst}/${e.name}`);
  } else {
    Deno.copyFileSync(src, dst);
  }
}

/** Performs one step below `root`; returns a log line for mounts (undefined otherwise). */
function perform(root: string, s: RootStep): string | undefined {
  const t = root + s.target;
  switch (s.op) {
    case "tmpfs":
      mkdirp(t);
      mount("tmpfs", t, "tmpfs", s.flags, s.data);
      return `tmpfs at ${s.target}`;
    case "bind":
      if (s.file) {
        mkdirp(parentOf(t));
        Deno.writeFileSync(t, new Uint8Array(), { mode: 0o644 });
      } else mkdirp(t);
      mount(s.source, t, null, MS.BIND);
      if (s.readonly) mount(null, t, null, MS.REMOUNT | MS.BIND | MS.RDONLY);
      return `${s.source} at ${s.target}${s.readonly ? " (ro)" : ""}`;
    case "mount":
      mkdirp(t);
      mount(s.source, t, s.fstype, s.flags, s.data);
      return `${s.fstype} ${s.source} at ${s.target}`;
    case "symlink":
      mkdirp(parentOf(t));
      Deno.symlinkSync(s.to, t);
      return undefined;
    case "copy":
      mkdirp(parentOf(t));
      copyTree(s.source, t);
      return undefined;
    case "dir":
      mkdirp(t);
      return undefined;
    case "readonly":
      mount(null, t, null, MS.REMOUNT | MS.RDONLY | s.flags);
      return undefined;
  }
}

/** The flags a namespace node's root is built from. */
export type NamespaceFlags = Pick<AgentFlags, "state" | "tpmSocket" | "payloads">;

/**
 * Builds the private root and pivots into it (see the module comment). Returns the flags as the
 * node sees them afterwards (`tpmSocket` = {@link TPM_SOCKET}). Throws on any failure: the caller
 * treats it as a fatal bring-up error, and the node's end releases every mount and loop device.
 */
export function prepareNamespaceRoot(
  flags: NamespaceFlags,
  log: (line: string) => void,
): NamespaceFlags {
  const state = flags.state;
  if (!state) throw new Error("namespace platform without --state");
  const st = hostEntry(state);
  if (!st) throw new Error(`--state=${state}: no such directory`);
  if (st.kind !== "dir") throw new Error(`--state=${state}: not a directory`);

  // Nothing below may propagate to the host (unshare --propagation private does it too).
  mount(null, "/", null, MS.REC | MS.PRIVATE);
  mkdirp(`${state}/esp`);
  const src = dataSource(state);
  let loop: LoopDevice | undefined;
  try {
    if (src.kind === "loop") loop = prepareLoopData(src.image, log);
    else mkdirp(src.path);
    const steps = rootPlan({
      state,
      data: loop ? { kind: "loop", device: loop.path } : { kind: "dir", path: `${state}/data` },
      agent: agentFiles(),
      deno: Deno.execPath(),
      tpmSocket: flags.tpmSocket,
      payloads: flags.payloads,
      host: hostEntry,
    });
    const root = `${state}/root`;
    mkdirp(root);
    mount("tmpfs", root, "tmpfs", 0, "mode=0755");
    for (const s of steps) {
      const line = perform(root, s);
      if (line) log(`root: ${line}`);
    }
    Deno.chdir(root);
    pivotRoot(".", ".");
    // The old root is now stacked on the new one at "/": detach it (and the state directory).
    umount(".", MNT.DETACH);
    Deno.chdir("/");
    log(`pivoted into the private root (${steps.length} steps), host root detached`);
  } finally {
    // The XFS mount holds the loop device now; autoclear detaches it when that mount goes.
    loop?.release();
  }
  return { ...flags, ...(flags.tpmSocket ? { tpmSocket: TPM_SOCKET } : {}) };
}
