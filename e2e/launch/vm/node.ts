/**
 * One VM node of a launcher cluster (testing.md §2.3): `<state>/nodes/<i>/` holds
 *
 * - `disk.img`: the node's GPT disk (vm/disk.ts), made once; the node writes its ESP and data
 *   partition there, so a kept state directory restarts the same node (`--keep-state`);
 * - `vars.fd`: its OVMF VARS, copied once from the image's template (test keys enrolled);
 * - `tpm/`: its swtpm state, provisioned once; one `swtpm socket --terminate` per boot, so PCRs
 *   start fresh on every boot like a real machine's;
 * - `parameters.pb`: NodeParameters given to every boot through fw_cfg (the node prefers fw_cfg
 *   over the ESP, node.md §6; a node with a sealed configuration joins and ignores them);
 * - `console.log`: the serial console of every boot, read by the launcher from QEMU's stdout.
 *
 * QEMU runs as `setsid setpriv --pdeathsig KILL qemu-system-x86_64 …` ({@link vmArgv}): out of
 * the launcher's terminal session (Ctrl-C reaches the launcher only, which tears down in order)
 * and killed by the kernel if the launcher dies without a teardown. `-no-reboot` makes a guest
 * reboot end QEMU; the console tells a reboot (`reboot: Restarting system`) from a power-off, and
 * with `allowReboot` the node is started again, as a machine's reset would.
 * @module
 */
import { toBinary } from "@bufbuild/protobuf";
import {
  type NodeParameters,
  NodeParametersSchema,
} from "../../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import { type ClusterNode, ConsoleSink, type NodeExit } from "../cluster_node.ts";
import { qemuArgs } from "./qemu.ts";
import { startSwtpm, type Swtpm } from "./swtpm.ts";
import { diesWithParent } from "../../../node/base/sys/parent_death.ts";

/** Options of one {@link VmNode}. */
export interface VmNodeOptions {
  index: number;
  /** `<state>/nodes/<i>` (absolute). */
  dir: string;
  /** Writes a new node disk at the given path (vm/disk.ts). */
  makeDisk(path: string): Promise<void>;
  /** Writes new OVMF VARS (the image's template with the test keys) at the given path. */
  makeVars(path: string): Promise<void>;
  /** The node's TAP device on the launcher's bridge. */
  tap: string;
  /** The node's MAC (its DHCP reservation). */
  mac: string;
  ramMiB: number;
  cpus: number;
  threads: number;
  accel: "kvm" | "tcg";
  /** Attach a swtpm. */
  tpm: boolean;
  /** Start the node again after a guest reboot. */
  allowReboot: boolean;
  /** Echo console lines to stdout as `[n<i>] <line>`. */
  echo: boolean;
  /** Called when a run ends (also before a reboot restart). */
  onExit?(exit: NodeExit): void;
  /** Called once per boot for each milestone of {@link bootMilestone}, with seconds since start. */
  onMilestone?(what: string, seconds: number): void;
}

/** Files of a VM node directory. */
export function vmNodeFiles(dir: string) {
  return {
    disk: `${dir}/disk.img`,
    vars: `${dir}/vars.fd`,
    tpm: `${dir}/tpm`,
    parameters: `${dir}/parameters.pb`,
    console: `${dir}/console.log`,
  };
}

/**
 * The argv that runs the node's QEMU (see the module comment); `parameters` is the fw_cfg file,
 * `tpmSocket` the swtpm of this boot.
 */
export function vmArgv(
  o: VmNodeOptions,
  boot: { parameters?: string; tpmSocket?: string; media?: string[] } = {},
): string[] {
  const f = vmNodeFiles(o.dir);
  return [
    "setsid",
    ...diesWithParent([
      "qemu-system-x86_64",
      ...qemuArgs({
        stateDir: o.dir,
        disk: f.disk,
        vars: f.vars,
        ramMiB: o.ramMiB,
        cpus: o.cpus,
        threads: o.threads,
        accel: o.accel,
        serial: "stdio",
        nic: { tap: o.tap, mac: o.mac },
        parameters: boot.parameters,
        media: boot.media,
      }, boot.tpmSocket),
    ]),
  ];
}

/**
 * Console lines worth a progress line while a VM boots (TCG is slow): what the line shows,
 * or undefined. Enrolment failures are passed on with their reason.
 */
export function bootMilestone(line: string): string | undefined {
  if (/BdsDxe: (loading|starting) Boot/.test(line)) return "firmware starts the UKI";
  if (/^\[\s*\d+\.\d+\] Linux version /.test(line) || /^Linux version /.test(line)) {
    return "kernel started";
  }
  if (/init: Metropolis \S+ starting \(pid 1\)/.test(line)) return "/init started";
  if (/Metropolis agent starting/.test(line)) return "agent started";
  const lease = /(\S+): leased (\S+) from/.exec(line);
  if (lease) return `${lease[1]} leased ${lease[2]}`;
  const failed = /enrolment failed(?: permanently)?: (.*)$/.exec(line);
  if (failed) return `enrolment failed: ${failed[1]}`;
  if (/Cluster enrolment done\./.test(line)) return "enrolled";
  if (/joined the cluster as \S+ from the sealed configuration/.test(line)) {
    return "rejoined from its sealed configuration";
  }
  if (/init: agent exited/.test(line)) return line.trim();
  return undefined;
}

/** How a QEMU run ended, from its status and the console tail (guest reboot vs power-off). */
export function describeVmExit(
  status: { code: number; signal: Deno.Signal | null },
  tail: string[],
): { description: string; reboot: boolean } {
  if (status.signal) return { description: `QEMU killed by ${status.signal}`, reboot: false };
  if (status.code !== 0) return { description: `QEMU exit status ${status.code}`, reboot: false };
  const last = [...tail].reverse().find((l) => /reboot: (Restarting system|Power down)/.test(l));
  if (last?.includes("Restarting")) {
    return { description: "guest rebooted (reboot request)", reboot: true };
  }
  if (last) return { description: "guest powered off", reboot: false };
  return { description: "QEMU exited (guest reset or halt)", reboot: false };
}

async function exists(p: string): Promise<boolean> {
  return await Deno.stat(p).then(() => true, () => false);
}

/** A VM node: prepare once, then start/stop/kill as often as needed. */
export class VmNode implements ClusterNode {
  #child?: Deno.ChildProcess;
  #swtpm?: Swtpm;
  #done?: Promise<NodeExit>;
  #stopping = false;
  #boots = 0;
  #medium?: string;
  readonly #console: ConsoleSink;

  /** Describes node `opts.index`; call {@link prepare} (new nodes) and {@link start}. */
  constructor(readonly opts: VmNodeOptions) {
    this.#console = new ConsoleSink(
      vmNodeFiles(opts.dir).console,
      `[n${opts.index}] `,
      opts.echo,
    );
  }

  /** The node's index. */
  get index(): number {
    return this.opts.index;
  }

  /** The serial console log. */
  get consolePath(): string {
    return this.#console.path;
  }

  /** The node's disk image. */
  get diskPath(): string {
    return vmNodeFiles(this.opts.dir).disk;
  }

  /** Whether QEMU runs. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Number of boots. */
  get boots(): number {
    return this.#boots;
  }

  /** The last console lines. */
  get tail(): string[] {
    return this.#console.tail;
  }

  /** Host PID of QEMU, when running. */
  get qemuPid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Makes the disk and VARS when missing and writes the parameters of the next boots; without
   * `params` the node boots without fw_cfg parameters (installed nodes read theirs from the ESP).
   */
  async prepare(params?: NodeParameters): Promise<void> {
    const f = vmNodeFiles(this.opts.dir);
    await Deno.mkdir(this.opts.dir, { recursive: true });
    if (!(await exists(f.disk))) await this.opts.makeDisk(f.disk);
    if (!(await exists(f.vars))) await this.opts.makeVars(f.vars);
    if (params) await Deno.writeFile(f.parameters, toBinary(NodeParametersSchema, params));
  }

  /**
   * Attaches `path` (an installer medium, image.md §10) read-only to the next boot only: the
   * installer's reboot then restarts the machine without it, as an operator pulls the stick once
   * `Installation completed` shows.
   */
  insertMedium(path: string): void {
    this.#medium = path;
  }

  /** Starts QEMU (and a fresh swtpm); resolves once spawned. */
  async start(): Promise<void> {
    if (this.#child) throw new Error(`node ${this.opts.index} is already running`);
    const f = vmNodeFiles(this.opts.dir);
    for (const p of [f.disk, f.vars]) {
      if (!(await exists(p))) throw new Error(`node ${this.opts.index}: ${p} missing`);
    }
    this.#stopping = false;
    if (this.opts.tpm) {
      try {
        this.#swtpm = await startSwtpm(f.tpm);
      } catch (e) {
        throw new Error(`node ${this.opts.index}: ${(e as Error).message}`);
      }
    }
    await this.#console.open();
    // A node that never got parameters (only kept state) boots without the fw_cfg file.
    const media = this.#medium ? [this.#medium] : undefined;
    this.#medium = undefined;
    const [cmd, ...args] = vmArgv(this.opts, {
      parameters: (await exists(f.parameters)) ? f.parameters : undefined,
      tpmSocket: this.#swtpm?.socket,
      media,
    });
    const child = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#boots++;
    const started = performance.now();
    const seen = new Set<string>();
    const milestone = (line: string) => {
      const m = bootMilestone(line);
      if (m && !seen.has(m)) {
        seen.add(m);
        this.opts.onMilestone?.(m, (performance.now() - started) / 1000);
      }
    };
    const pumps = Promise.all([
      this.#console.pump(child.stdout, milestone),
      this.#console.pump(child.stderr.pipeThrough(prefixStream("qemu: "))),
    ]);
    this.#done = (async () => {
      const status = await child.status;
      await pumps;
      this.#child = undefined;
      await this.#swtpm?.stop();
      this.#swtpm = undefined;
      const tail = this.tail;
      const d = describeVmExit(status, tail);
      const restarting = d.reboot && this.opts.allowReboot && !this.#stopping;
      const exit: NodeExit = {
        code: status.code,
        signal: status.signal,
        description: d.description,
        tail,
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

  /** Resolves when the current QEMU run ends (not counting a reboot restart). */
  async wait(): Promise<NodeExit | undefined> {
    return await this.#done;
  }

  /** Power cut: SIGKILL to QEMU, then waits until it and the swtpm are gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#stopping = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#done;
  }

  /**
   * Stops the VM: SIGTERM to QEMU (it exits at once, the guest sees a power cut; written data is
   * in the host's page cache already), {@link kill} if it is still running after `graceMs`.
   */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#stopping = true;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const done = this.#done!;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = await Promise.race([
      done.then(() => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), graceMs)),
    ]);
    clearTimeout(timer);
    if (!ended) await this.kill();
    await done;
  }

  /** Kills the VM, closes the console log. */
  async close(): Promise<void> {
    await this.kill();
    this.#console.close();
  }
}

/** Prefixes every line of a text byte stream (QEMU's stderr in the console log). */
function prefixStream(prefix: string): TransformStream<Uint8Array, Uint8Array> {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  let atStart = true;
  return new TransformStream({
    transform(chunk, ctl) {
      let text = dec.decode(chunk, { stream: true });
      if (!text) return;
      if (atStart) text = prefix + text;
      atStart = text.endsWith("\n");
      const body = atStart ? text.slice(0, -1) : text;
      ctl.enqueue(enc.encode(body.replaceAll("\n", `\n${prefix}`) + (atStart ? "\n" : "")));
    },
  });
}
