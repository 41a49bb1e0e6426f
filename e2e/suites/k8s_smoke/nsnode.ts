/**
 * A namespace node for tier-2 Kubernetes tests: one network namespace (`ip netns`, reachable
 * from the host over a veth pair) plus one mount+PID namespace held open by a `sleep` that is
 * PID 1 inside. Every component is started in all three namespaces with `nsenter`, so killing
 * the holder kills everything, and every mount (overlay rootfs, tmpfs volumes, netns binds)
 * lives and dies with the mount namespace. `/run`, `/var/lib` and `/var/log` are private tmpfs
 * inside, so containerd, CNI and kubelet defaults leave nothing on the host. cgroups created
 * under the node's cgroup root are removed at teardown, and the host-global sysctls the kubelet
 * changes are restored.
 */

/** Network and naming of one namespace node. Names must be unique on the host. */
export interface NsNodeOptions {
  /** `ip netns` name, e.g. `mk8s-smoke`. */
  netns: string;
  /** Host- and node-side veth names (≤ 15 characters). */
  hostVeth: string;
  nodeVeth: string;
  /** Host and node addresses on a private /24, e.g. `10.250.77.254` and `10.250.77.1`. */
  hostAddr: string;
  nodeAddr: string;
  /** cgroup root (one path component) created in every cgroup hierarchy, e.g. `mk8s-smoke`. */
  cgroupRoot: string;
  /** Scratch directory for logs; component state also goes here. */
  workDir: string;
}

import { cgroupMounts, KUBELET_SYSCTLS, removeCgroupTree } from "../../launch/hoststate.ts";

export { KUBELET_SYSCTLS };

const HOLDER_SCRIPT = `set -e
for d in /run /var/lib /var/log; do mount -t tmpfs -o mode=755 mk8s "$d"; done
echo ready
exec sleep infinity`;

async function sh(cmd: string, args: string[], allowFail = false): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  if (!out.success && !allowFail) {
    throw new Error(`${cmd} ${args.join(" ")}: exit ${out.code}: ${dec.decode(out.stderr).trim()}`);
  }
  return dec.decode(out.stdout);
}

/** A running namespace node; create with {@link NsNode.create}, always {@link teardown}. */
export class NsNode {
  readonly opts: NsNodeOptions;
  #holder?: Deno.ChildProcess;
  #holderPid = 0;
  #children: { name: string; proc: Deno.ChildProcess }[] = [];
  #sysctls = new Map<string, string>();
  #lock?: Deno.FsFile;

  private constructor(opts: NsNodeOptions) {
    this.opts = opts;
  }

  /** Creates the namespaces, veth link and cgroup roots. Cleans stale leftovers first. */
  static async create(opts: NsNodeOptions): Promise<NsNode> {
    const n = new NsNode(opts);
    // Two runs with the same names would tear down each other's node: serialise them.
    n.#lock = await Deno.open(n.#lockPath(), { create: true, write: true });
    await n.#lock.lock(true);
    await n.#cleanupHost();
    try {
      await n.#setup();
    } catch (e) {
      await n.teardown();
      throw e;
    }
    return n;
  }

  async #setup() {
    const o = this.opts;
    await Deno.mkdir(`${o.workDir}/logs`, { recursive: true });
    for (const k of KUBELET_SYSCTLS) {
      this.#sysctls.set(k, await Deno.readTextFile(`/proc/sys/${k}`));
    }
    await sh("ip", ["netns", "add", o.netns]);
    await sh("ip", ["link", "add", o.hostVeth, "type", "veth", "peer", "name", o.nodeVeth]);
    await sh("ip", ["link", "set", o.nodeVeth, "netns", o.netns]);
    await sh("ip", ["addr", "add", `${o.hostAddr}/24`, "dev", o.hostVeth]);
    await sh("ip", ["link", "set", o.hostVeth, "up"]);
    const inNs = (args: string[]) => sh("ip", ["-n", o.netns, ...args]);
    await inNs(["link", "set", "lo", "up"]);
    await inNs(["addr", "add", `${o.nodeAddr}/24`, "dev", o.nodeVeth]);
    await inNs(["link", "set", o.nodeVeth, "up"]);
    await inNs(["route", "add", "default", "via", o.hostAddr]);
    // The kubelet insists that its cgroup root exists; cpuset groups need cpus/mems to be usable.
    for (const m of await cgroupMounts()) {
      const dir = `${m}/${o.cgroupRoot}`;
      await Deno.mkdir(dir, { recursive: true });
      for (const f of ["cpuset.cpus", "cpuset.mems"]) {
        const v = await Deno.readTextFile(`${m}/${f}`).catch(() => undefined);
        if (v !== undefined) await Deno.writeTextFile(`${dir}/${f}`, v);
      }
    }
    this.#holder = new Deno.Command("nsenter", {
      args: [
        `--net=/run/netns/${o.netns}`,
        "--",
        "unshare",
        "--mount",
        "--pid",
        "--fork",
        "--mount-proc",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        HOLDER_SCRIPT,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = this.#holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    if (!first.value?.includes("ready")) throw new Error("nsnode: namespace holder did not start");
    reader.releaseLock();
    this.#holder.stdout.cancel().catch(() => {});
    const pid = this.#holder.pid;
    const kids = (await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`)).trim();
    this.#holderPid = Number(kids.split(" ")[0]);
    if (!this.#holderPid) throw new Error("nsnode: cannot find the namespace holder's PID");
  }

  /** The argv prefix entering the node's mount, network and PID namespaces. */
  enterArgs(): string[] {
    return ["nsenter", "-t", String(this.#holderPid), "-m", "-n", "-p", "--"];
  }

  /**
   * Starts a long-running component inside the node (in `opts.cwd`, default `/`); its output
   * goes to `<workDir>/logs/<name>.log`.
   */
  start(
    name: string,
    argv: string[],
    opts: { env?: Record<string, string>; cwd?: string } = {},
  ): Deno.ChildProcess {
    const log = `${this.opts.workDir}/logs/${name}.log`;
    const script = 'cd "$MK8S_CWD" && exec "$@" >>"$MK8S_LOG" 2>&1';
    const [cmd, ...args] = [...this.enterArgs(), "sh", "-c", script, "sh"];
    const proc = new Deno.Command(cmd, {
      args: [...args, ...argv],
      env: { ...opts.env, MK8S_LOG: log, MK8S_CWD: opts.cwd ?? "/" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#children.push({ name, proc });
    proc.status.then((s) => {
      if (this.#holderPid && !s.success) {
        console.log(`nsnode: ${name} exited with ${s.code} (log ${log})`);
      }
    });
    return proc;
  }

  /** Runs a short command inside the node and returns its stdout; throws on failure. */
  async run(argv: string[]): Promise<string> {
    const [cmd, ...args] = this.enterArgs();
    return await sh(cmd, [...args, ...argv]);
  }

  /** The last `lines` lines of a component's log (for failure messages). */
  async logTail(name: string, lines = 30): Promise<string> {
    const t = await Deno.readTextFile(`${this.opts.workDir}/logs/${name}.log`).catch(() => "");
    return t.split("\n").slice(-lines).join("\n");
  }

  /**
   * Kills everything in the node (SIGKILL to the PID namespace's init), then removes the cgroup
   * roots, the network namespace, the veth and the work directory.
   */
  async teardown(): Promise<void> {
    if (this.#holderPid) {
      try {
        Deno.kill(this.#holderPid, "SIGKILL");
      } catch { /* already gone */ }
    }
    this.#holderPid = 0;
    if (this.#holder) await this.#holder.status;
    await Promise.all(this.#children.map((c) => c.proc.status));
    this.#children = [];
    await this.#cleanupHost();
    for (const [k, v] of this.#sysctls) await Deno.writeTextFile(`/proc/sys/${k}`, v);
    this.#sysctls.clear();
    await Deno.remove(this.opts.workDir, { recursive: true }).catch(() => {});
    if (this.#lock) {
      await Deno.remove(this.#lockPath()).catch(() => {});
      this.#lock.close();
      this.#lock = undefined;
    }
  }

  #lockPath(): string {
    return `/run/${this.opts.netns}.lock`;
  }

  async #cleanupHost() {
    const o = this.opts;
    // Processes of a killed PID namespace may take a moment to leave their cgroups.
    for (const m of await cgroupMounts()) {
      const dir = `${m}/${o.cgroupRoot}`;
      for (let i = 0; i < 50; i++) {
        try {
          await removeCgroupTree(dir);
          break;
        } catch (e) {
          if (i === 49) throw new Error(`nsnode: cannot remove cgroup ${dir}: ${e}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
    await sh("ip", ["netns", "del", o.netns], true);
    await sh("ip", ["link", "del", o.hostVeth], true);
  }
}
