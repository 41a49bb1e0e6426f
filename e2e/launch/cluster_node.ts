/**
 * What the launcher's cluster needs from a node, whatever runs it: a namespace node process
 * (node.ts) or a VM (vm/node.ts). Both prepare their state once, start and stop as often as asked,
 * keep a console log and report how each run ended.
 * @module
 */
import type { NodeParameters } from "../../proto/gen/metropolis/proto/api/configuration_pb.ts";

/** Console lines kept for exit reports. */
export const TAIL_LINES = 20;

/** How a node run ended. */
export interface NodeExit {
  /** Exit code of the node process (namespace: unshare; VM: QEMU) when it exited normally. */
  code: number;
  /** Signal that ended the node process, or null. */
  signal: Deno.Signal | null;
  /** Human description, e.g. `killed by SIGHUP (reboot request)`. */
  description: string;
  /** The last {@link TAIL_LINES} console lines. */
  tail: string[];
  /** Whether the launcher restarts the node (reboot request with `allowReboot`). */
  restarting: boolean;
}

/** One launcher node. */
export interface ClusterNode {
  /** The node's index (address `<prefix>.(index+2)`). */
  readonly index: number;
  /** The console log file (every line of every boot). */
  readonly consolePath: string;
  /** Whether the node runs. */
  readonly running: boolean;
  /** Number of starts. */
  readonly boots: number;
  /** The last console lines. */
  readonly tail: string[];
  /**
   * Creates the node's state if missing and sets the parameters of its next boots (none: the node
   * keeps what it has, or waits for them).
   */
  prepare(params?: NodeParameters): Promise<void>;
  /** Starts the node; resolves once it runs. */
  start(): Promise<void>;
  /** Resolves when the current run ends (not counting a reboot restart). */
  wait(): Promise<NodeExit | undefined>;
  /** Stops the node (gracefully where the node kind can, then kills it after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
  /** Ends the node at once; no restart, no exit report. */
  kill(): Promise<void>;
  /** Kills the node and closes its console log. */
  close(): Promise<void>;
}

/**
 * Appends console lines to a bounded tail, the console log and (optionally) stdout prefixed
 * `[n<i>] `. Echoing stops for good when stdout is gone: the node must keep running and logging.
 */
export class ConsoleSink {
  readonly #tail: string[] = [];
  readonly #enc = new TextEncoder();
  #log?: Deno.FsFile;

  /** `path`: the console log (appended); `echo`: also print to stdout. */
  constructor(readonly path: string, readonly prefix: string, public echo: boolean) {}

  /** The last {@link TAIL_LINES} lines. */
  get tail(): string[] {
    return [...this.#tail];
  }

  /** Opens the log for appending (idempotent). */
  async open(): Promise<void> {
    this.#log ??= await Deno.open(this.path, { create: true, append: true });
  }

  /** Records one line (without its newline). */
  line(line: string): void {
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
    this.#log?.writeSync(this.#enc.encode(line + "\n"));
    if (this.echo) {
      try {
        Deno.stdout.writeSync(this.#enc.encode(this.prefix + line + "\n"));
      } catch {
        // stdout is gone (closed pipe): keep the node and the log, stop echoing.
        this.echo = false;
      }
    }
  }

  /** Splits a byte stream into lines (`\r\n` or `\n`) and records each; resolves at its end. */
  async pump(stream: ReadableStream<Uint8Array>, each?: (line: string) => void): Promise<void> {
    let partial = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop()!;
      for (const l of lines) {
        const line = l.replace(/\r+$/, "");
        this.line(line);
        each?.(line);
      }
    }
    if (partial) {
      const line = partial.replace(/\r+$/, "");
      this.line(line);
      each?.(line);
    }
  }

  /** Closes the log. */
  close(): void {
    this.#log?.close();
    this.#log = undefined;
  }
}
