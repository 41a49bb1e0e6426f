/**
 * What a command runs with: parsed arguments and flags, the data sink (stdout or `-o FILE`),
 * stderr lines, the config directory and the global connection settings.
 */
import type { Command, FlagValues } from "./args.ts";
import { commandName } from "./args.ts";
import { ConfigDir, defaultConfigDir } from "./config.ts";
import { UsageError } from "./errors.ts";
import { type Format, FORMATS } from "./output.ts";

/** See the module comment. */
export class Context {
  readonly config: ConfigDir;
  readonly format: Format;
  /** File receiving data instead of stdout (`-o FILE`). */
  readonly outputFile?: string;
  #fileStarted = false;
  readonly #enc = new TextEncoder();

  constructor(
    readonly path: Command[],
    readonly args: string[],
    readonly flags: FlagValues,
    readonly signal: AbortSignal,
  ) {
    this.config = new ConfigDir(this.str("config") || defaultConfigDir(), (l) => this.stderr(l));
    const out = this.str("output");
    let format = (this.str("format") || "plaintext") as Format;
    if ((FORMATS as readonly string[]).includes(out)) format = out as Format;
    else if (out) this.outputFile = out;
    this.format = format;
  }

  /** The command path without the root, e.g. `node describe`. */
  get command(): string {
    return commandName(this.path);
  }

  /** A string flag. */
  str(name: string): string {
    const v = this.flags[name];
    return typeof v === "string" ? v : "";
  }

  /** A boolean flag. */
  bool(name: string): boolean {
    return this.flags[name] === true;
  }

  /** A list flag. */
  list(name: string): string[] {
    const v = this.flags[name];
    return Array.isArray(v) ? v : [];
  }

  /** `--endpoints`, required: exit 2 without. */
  endpoints(): string[] {
    const e = this.list("endpoints");
    if (e.length === 0) {
      throw new UsageError("no cluster endpoints: pass --endpoints", this.command);
    }
    return e;
  }

  /** `--proxy` or undefined. */
  get proxy(): string | undefined {
    return this.str("proxy") || undefined;
  }

  /** One line to stderr (progress, confirmations, warnings). */
  stderr(line: string): void {
    Deno.stderr.writeSync(this.#enc.encode(line + "\n"));
  }

  /** A trace line to stderr with `--verbose`. */
  verbose(line: string): void {
    if (this.bool("verbose")) this.stderr(`[verbose] ${line}`);
  }

  /** Writes data to stdout, or to the `-o` file (created or truncated on first write, 0644). */
  async write(text: string): Promise<void> {
    const bytes = this.#enc.encode(text);
    if (!this.outputFile) {
      let off = 0;
      while (off < bytes.length) off += await Deno.stdout.write(bytes.subarray(off));
      return;
    }
    await Deno.writeFile(this.outputFile, bytes, { append: this.#fileStarted, mode: 0o644 });
    this.#fileStarted = true;
  }

  /** Creates the `-o` file empty if the command wrote no data to it. */
  async finish(): Promise<void> {
    if (this.outputFile && !this.#fileStarted) await this.write("");
  }
}
