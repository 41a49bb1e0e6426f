/**
 * A software TPM process (`swtpm socket --tpm2`) on a state directory, as namespace nodes get one
 * (testing.md §2.2: raw command socket `<dir>/sock`, control socket `<dir>/ctrl`,
 * `not-need-init,startup-clear`), restartable on the same state (fresh PCRs, like a reboot).
 * Used by the launcher for its nodes and by the TPM tests; the agent itself only connects.
 * @module
 */
import { connectUnix } from "./transport.ts";
import { Tpm } from "./client.ts";
import { diesWithParent } from "../sys/parent_death.ts";

/** A running swtpm; {@link stop} it (and remove {@link dir}) when done. */
export class Swtpm {
  #proc?: Deno.ChildProcess;

  private constructor(readonly dir: string, readonly log?: string) {}

  /** The raw command socket. */
  get socket(): string {
    return `${this.dir}/sock`;
  }

  /**
   * Starts a swtpm with its state in `dir` (an existing directory; a new temporary one when
   * omitted), logging to `opts.log` when given.
   */
  static async start(dir?: string, opts: { log?: string } = {}): Promise<Swtpm> {
    const s = new Swtpm(dir ?? await Deno.makeTempDir({ prefix: "swtpm-test-" }), opts.log);
    await s.restart();
    return s;
  }

  /** (Re)starts the process on the same state: PCRs reset, persistent state kept. */
  async restart(): Promise<void> {
    await this.stop();
    for (const f of ["sock", "ctrl"]) await Deno.remove(`${this.dir}/${f}`).catch(() => {});
    // Killed by the kernel if its starter (launcher, test) dies without stopping it.
    const [cmd, ...args] = diesWithParent([
      "swtpm",
      "socket",
      "--tpm2",
      "--tpmstate",
      `dir=${this.dir}`,
      "--server",
      `type=unixio,path=${this.dir}/sock`,
      "--ctrl",
      `type=unixio,path=${this.dir}/ctrl`,
      "--flags",
      "not-need-init,startup-clear",
      ...(this.log ? ["--log", `level=1,file=${this.log}`] : []),
    ]);
    this.#proc = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 250; i++) {
      try {
        await Deno.stat(this.socket);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    throw new Error(`swtpm did not create ${this.socket} within 5 s`);
  }

  /** A client connected to the socket. */
  async connect(): Promise<Tpm> {
    return new Tpm(await connectUnix(this.socket));
  }

  /** Stops the process (state stays). */
  async stop(): Promise<void> {
    const p = this.#proc;
    if (!p) return;
    this.#proc = undefined;
    try {
      p.kill("SIGTERM");
    } catch { /* gone */ }
    await p.status;
  }

  /** Stops the process and removes the state directory. */
  async destroy(): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
