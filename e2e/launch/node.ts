/**
 * One namespace node process (testing.md §2.2, node.md §1, §3): the state directory
 * `<state>/nodes/<i>/{esp,data}` with `esp/metropolis/parameters.pb`, optionally a swtpm, and
 *
 *   setsid setpriv --pdeathsig KILL ip netns exec <ns> unshare --pid --fork --kill-child --mount
 *     --uts --ipc --propagation private <init> -- <deno> <AGENT_DENO_ARGS> <repo>/dist/agent.js
 *     --platform=namespace --state=<state>/nodes/<i>
 *     [--tpm-socket=<state>/nodes/<i>/tpm/sock]
 *
 * Every path in that command is a host path: `/init` execs the agent before it builds its private
 * root. After the pivot the agent sees `/agent/{deno,agent.js,proto}`, `/esp`, `/data` and
 * `/tpm/sock` (node/core/platform/root_plan.ts) and the state directory is gone. The agent's
 * environment is only `DENO_DIR=<state>/nodes/<i>/deno` (Deno opens its caches at start-up, before
 * the private root exists; a `/ephemeral/deno` as on a VM would be created on the host),
 * `NO_COLOR=1`, `DENO_NO_UPDATE_CHECK=1` and `PATH`; no `HOME`. With `--storage loop` the node
 * directory holds a sparse `data.img` ({@link DATA_IMAGE_SIZE}) instead of `data/`; the agent
 * formats it on first use.
 *
 * `setsid` keeps the launcher's Ctrl-C away from the node (the launcher tears down in order);
 * `setpriv --pdeathsig KILL` kills `unshare` if the launcher dies without a teardown (SIGKILL, or
 * a test runner that exits on Ctrl-C before it), and `--kill-child` makes the node die with its
 * `unshare` parent. unshare re-raises the signal that ended `/init`, so the exit status
 * tells a reboot request (SIGHUP: restarted with `allowReboot`) from a power-off (SIGINT). Every
 * other end is reported with the last 20 console lines. Console (stdout+stderr) goes to
 * `<state>/nodes/<i>/console.log`, optionally echoed as `[n<i>] <line>`.
 * @module
 */
import {
  type NodeParameters,
  NodeParametersSchema,
} from "../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import { toBinary } from "@bufbuild/protobuf";
import {
  autogroupNice,
  childPids,
  ownNice,
  pidAlive,
  reniceTree,
  setAutogroupNice,
  sleep,
} from "./exec.ts";
import { Swtpm } from "../../node/base/tpm/swtpm.ts";
import { agentArgv } from "../../node/base/osimage/agent.ts";
import { type ClusterNode, ConsoleSink, type NodeExit, TAIL_LINES } from "./cluster_node.ts";
import { AGENT_CACHE_DIR, AGENT_STAMP } from "../../os-image/tools/bundle.ts";
import { diesWithParent } from "../../node/base/sys/parent_death.ts";

export { type NodeExit, TAIL_LINES };

/**
 * A node's first `DENO_DIR` starts as a copy of the bundle's warmed cache
 * ({@link AGENT_CACHE_DIR}, when it belongs to the current bundle); an existing one is left
 * alone. Best effort: without it the agent loads a little slower.
 */
export async function seedAgentCache(denoDir: string, dist = `${REPO_ROOT}/dist`): Promise<void> {
  const from = `${dist}/${AGENT_CACHE_DIR}`;
  try {
    if (await Deno.stat(denoDir).then(() => true, () => false)) return;
    const [cacheStamp, bundleStamp] = await Promise.all([
      Deno.readTextFile(`${from}/stamp`),
      Deno.readTextFile(`${dist}/${AGENT_STAMP}`),
    ]);
    if (cacheStamp.trim() !== bundleStamp.trim()) return;
    const tmp = `${denoDir}.tmp`;
    await Deno.mkdir(tmp, { recursive: true });
    for await (const e of Deno.readDir(from)) {
      if (e.isFile && e.name !== "stamp") {
        await Deno.copyFile(`${from}/${e.name}`, `${tmp}/${e.name}`);
      }
    }
    await Deno.rename(tmp, denoDir);
  } catch {
    // Another launcher replaced the cache meanwhile, or it is missing: start empty.
  }
}

/** Nice value of a node that boots before its parameters exist (the lowest priority). */
export const WAITING_NICE = 19;

/**
 * `argv` (which starts with `setsid`) at {@link WAITING_NICE}: right after `setsid`, a shell sets
 * the new session's scheduler autogroup (with `kernel.sched_autogroup_enabled` the kernel weighs
 * sessions against each other, and a thread's nice only ranks it within its session) and runs
 * the rest under `nice` (for kernels without autogroups).
 */
export function waitingArgv(argv: string[]): string[] {
  if (argv[0] !== "setsid") throw new Error(`node argv must start with setsid: ${argv[0]}`);
  const script = `echo ${WAITING_NICE} > /proc/self/autogroup 2>/dev/null; ` +
    `exec nice -n ${WAITING_NICE} "$@"`;
  return ["setsid", "sh", "-c", script, "sh", ...argv.slice(1)];
}

/** Repository root. */
export const REPO_ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
/** The agent bundle (built by the launcher through `ensureAgentBundle`, or `deno task bundle`). */
export const AGENT_ENTRY = `${REPO_ROOT}/dist/agent.js`;
/** Size of a new sparse `data.img` (`--storage loop`). */
export const DATA_IMAGE_SIZE = 2 * 1024 ** 3;
/** PATH of the agent (host binaries come from the node's read-only `/usr`). */
export const AGENT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Options of one {@link NamespaceNode}. */
export interface NamespaceNodeOptions {
  index: number;
  /** `<state>/nodes/<i>` (absolute). */
  dir: string;
  /** Network namespace, already set up. */
  netns: string;
  /** Path of the host-built static `/init`. */
  init: string;
  /** Start a swtpm per boot and pass `--tpm-socket`. */
  tpm: boolean;
  /** Restart after a reboot request (init ended by SIGHUP). */
  allowReboot: boolean;
  /** Echo console lines to stdout as `[n<i>] <line>`. */
  echo: boolean;
  /** argv after `/init --` instead of the agent; `{state}`/`{i}` are substituted. */
  agentCommand?: string[];
  /** `/data` storage: a directory, or a sparse XFS loop image (`--storage loop`). */
  storage?: "dir" | "loop";
  /** Host directory with the Kubernetes payloads (payloads.ts), bound into the node. */
  payloads?: string;
  /**
   * Run the agent on a copy of the launcher's `deno` in the node's directory
   * ({@link NamespaceNode.runtime}) instead of on the launcher's own file, so that the agent is
   * the only process mapping its runtime, as on a VM, whose runtime is in its own system image:
   * then the executable's pages are the node's alone (VmRSS means what it means on a VM) and the
   * agent's page-out of cold code (node/base/sys/pageout.ts) works as there — when the state
   * directory is on a disk: pages of a tmpfs file cannot be paged out without swap.
   */
  privateRuntime?: boolean;
  /** Called when the node process ends (also before a reboot restart). */
  onExit?(exit: NodeExit): void;
  /** Tests: runs after the swtpm is up and before the node process starts (fault injection). */
  beforeAgentStart?(node: NamespaceNode): Promise<void>;
}

function describeExit(s: Deno.CommandStatus): string {
  if (s.signal === "SIGHUP") return "killed by SIGHUP (reboot request)";
  if (s.signal === "SIGINT") return "killed by SIGINT (power off)";
  if (s.signal) return `killed by ${s.signal}`;
  return `exit status ${s.code}`;
}

/**
 * Copies the launcher's `deno` to `path` unless a copy of the same size is there (a reboot keeps
 * it): a file of its own, not a link, since the kernel shares the pages of one file.
 */
export async function copyRuntime(path: string): Promise<void> {
  const from = Deno.execPath();
  const [src, dst] = await Promise.all([Deno.stat(from), Deno.stat(path).catch(() => undefined)]);
  if (dst?.size === src.size) return;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.copyFile(from, `${path}.tmp`);
  await Deno.chmod(`${path}.tmp`, 0o755);
  await Deno.rename(`${path}.tmp`, path);
}

/** A namespace node: prepare once, then start/stop/kill as often as needed. */
export class NamespaceNode implements ClusterNode {
  #child?: Deno.ChildProcess;
  #swtpm?: Swtpm;
  #done?: Promise<NodeExit>;
  #stopping = false;
  readonly #console: ConsoleSink;
  #boots = 0;

  /** Describes node `opts.index`; call {@link prepare} and {@link start}. */
  constructor(readonly opts: NamespaceNodeOptions) {
    this.#console = new ConsoleSink(`${opts.dir}/console.log`, `[n${opts.index}] `, opts.echo);
  }

  /** The node's index. */
  get index(): number {
    return this.opts.index;
  }

  /** `esp/`, `data/` (and `tpm/`) under the node directory. */
  get espDir(): string {
    return `${this.opts.dir}/esp`;
  }

  /** The console log file. */
  get consolePath(): string {
    return this.#console.path;
  }

  /** Number of times the node process was started. */
  get boots(): number {
    return this.#boots;
  }

  /** Whether the node process is running. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Host PID of the node's `/init` (PID 1 inside), or undefined when not running. */
  get initPid(): number | undefined {
    return this.#child ? childPids(this.#child.pid)[0] : undefined;
  }

  /** The last console lines. */
  get tail(): string[] {
    return this.#console.tail;
  }

  /**
   * Creates the state directories (`data/` or a sparse `data.img`, unless either exists: kept
   * state decides) and writes `esp/metropolis/parameters.pb` (without `params`, the node boots
   * and waits until {@link writeParameters} gives it some).
   */
  async prepare(params?: NodeParameters): Promise<void> {
    await Deno.mkdir(`${this.espDir}/metropolis`, { recursive: true });
    const dir = this.opts.dir;
    const has = async (p: string) => await Deno.stat(p).then(() => true, () => false);
    if (!(await has(`${dir}/data`)) && !(await has(`${dir}/data.img`))) {
      if (this.opts.storage === "loop") {
        const f = await Deno.open(`${dir}/data.img`, { create: true, write: true });
        await f.truncate(DATA_IMAGE_SIZE);
        f.close();
      } else {
        await Deno.mkdir(`${dir}/data`);
      }
    }
    if (params) await this.writeParameters(params);
    else this.#awaitingParameters = true;
  }

  /**
   * Prepared without parameters and not given any yet: the node boots at the lowest CPU priority
   * ({@link WAITING_NICE}, for its threads and its session's scheduler autogroup), so its boot
   * uses only CPU time the first node's bootstrap leaves idle; {@link writeParameters} restores
   * the launcher's own priority.
   */
  #awaitingParameters = false;

  /**
   * Writes `esp/metropolis/parameters.pb` atomically (temp file + rename): a running node that
   * waits for its parameters reads them as soon as they appear, never half-written.
   */
  async writeParameters(params: NodeParameters): Promise<void> {
    const path = `${this.espDir}/metropolis/parameters.pb`;
    await Deno.writeFile(`${path}.tmp`, toBinary(NodeParametersSchema, params));
    await Deno.rename(`${path}.tmp`, path);
    if (this.#awaitingParameters) {
      this.#awaitingParameters = false;
      if (this.#child) {
        setAutogroupNice(this.#child.pid, autogroupNice("self") ?? 0);
        await reniceTree(this.#child.pid, ownNice());
      }
    }
  }

  /** The `deno` executable the agent runs on (see {@link NamespaceNodeOptions.privateRuntime}). */
  get runtime(): string {
    return this.opts.privateRuntime ? `${this.opts.dir}/runtime/deno` : Deno.execPath();
  }

  /** The argv of the node process (see the module comment). */
  argv(): string[] {
    const o = this.opts;
    const agent = o.agentCommand
      ? o.agentCommand.map((a) => a.replaceAll("{state}", o.dir).replaceAll("{i}", String(o.index)))
      : agentArgv(this.runtime, AGENT_ENTRY, [
        "--platform=namespace",
        `--state=${o.dir}`,
        ...(o.tpm ? [`--tpm-socket=${o.dir}/tpm/sock`] : []),
        ...(o.payloads ? [`--payloads=${o.payloads}`] : []),
      ]);
    return [
      "setsid",
      ...diesWithParent([
        "ip",
        "netns",
        "exec",
        o.netns,
        "unshare",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount",
        "--uts",
        "--ipc",
        "--propagation",
        "private",
        o.init,
        "--",
        ...agent,
      ]),
    ];
  }

  /** Starts the node process (and a fresh swtpm); resolves once spawned. */
  async start(): Promise<void> {
    if (this.#child) throw new Error(`node ${this.opts.index} is already running`);
    this.#stopping = false;
    if (this.opts.tpm) await this.#startSwtpm();
    await this.opts.beforeAgentStart?.(this);
    if (!this.opts.agentCommand) await seedAgentCache(`${this.opts.dir}/deno`);
    if (this.opts.privateRuntime && !this.opts.agentCommand) await copyRuntime(this.runtime);
    await this.#console.open();
    const [cmd, ...args] = this.#awaitingParameters ? waitingArgv(this.argv()) : this.argv();
    // A stand-in (agentCommand) keeps the launcher's environment; the agent gets only its own.
    const env: Record<string, string> = this.opts.agentCommand ? {} : {
      DENO_DIR: `${this.opts.dir}/deno`,
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      PATH: AGENT_PATH,
    };
    const child = new Deno.Command(cmd, {
      args,
      env,
      clearEnv: !this.opts.agentCommand,
      cwd: REPO_ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#boots++;
    const pumps = Promise.all([
      this.#console.pump(child.stdout),
      this.#console.pump(child.stderr),
    ]);
    this.#done = (async () => {
      const status = await child.status;
      await pumps;
      this.#child = undefined;
      await this.#stopSwtpm();
      const restarting = status.signal === "SIGHUP" && this.opts.allowReboot && !this.#stopping;
      const exit: NodeExit = {
        code: status.code,
        signal: status.signal,
        description: describeExit(status),
        tail: this.tail,
        restarting,
      };
      if (!this.#stopping) this.opts.onExit?.(exit);
      if (restarting) {
        await this.start().catch((e) =>
          this.#console.line(`launch: restart failed: ${(e as Error).message}`)
        );
      }
      return exit;
    })();
  }

  /** Resolves when the current node process ends (not counting a reboot restart). */
  async wait(): Promise<NodeExit | undefined> {
    return await this.#done;
  }

  /**
   * Ends the node at once: SIGKILL to its `/init`, which takes the whole PID namespace with it,
   * then waits for the process to be gone. No restart, no exit report.
   */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#stopping = true;
    const init = this.initPid;
    if (init !== undefined) {
      try {
        Deno.kill(init, "SIGKILL");
      } catch { /* already gone */ }
    }
    // unshare --kill-child: killing unshare also kills /init (and so the namespace).
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#done;
    if (init !== undefined) {
      for (let i = 0; i < 100 && pidAlive(init); i++) await sleep(50);
    }
  }

  /**
   * Stops the node: SIGTERM to `/init` (forwarded to the agent), then {@link kill} after
   * `graceMs` if it is still running.
   */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.#child) return;
    this.#stopping = true;
    const init = this.initPid;
    if (init !== undefined) {
      try {
        Deno.kill(init, "SIGTERM");
      } catch { /* already gone */ }
    }
    const done = this.#done!;
    const ended = await Promise.race([done.then(() => true), sleep(graceMs).then(() => false)]);
    if (!ended) await this.kill();
    await done;
  }

  /** Kills the node, closes the console log. */
  async close(): Promise<void> {
    await this.kill();
    this.#console.close();
  }

  async #startSwtpm(): Promise<void> {
    const dir = `${this.opts.dir}/tpm`;
    await Deno.mkdir(dir, { recursive: true });
    try {
      this.#swtpm = await Swtpm.start(dir, { log: `${dir}/swtpm.log` });
    } catch (e) {
      throw new Error(`node ${this.opts.index}: ${(e as Error).message}`);
    }
  }

  async #stopSwtpm(): Promise<void> {
    const s = this.#swtpm;
    this.#swtpm = undefined;
    await s?.stop();
  }
}
