/**
 * Command tree and flag parser (metroctl.md §1–§2): `--flag value`, `--flag=value`, short forms,
 * repeatable list flags that also split on commas, `--` ends flags. Values are validated with zod
 * schemas declared on the flags; every failure is a {@link UsageError} naming the command.
 */
import { z } from "zod";
import { UsageError } from "./errors.ts";
import type { Context } from "./context.ts";

/** One flag of a command. */
export interface FlagSpec {
  name: string;
  short?: string;
  kind: "bool" | "string" | "list";
  help: string;
  /** Default shown in help and used when absent (bool: false, list: []). */
  default?: string;
  /** Validates (and may transform) a string value. */
  schema?: z.ZodType<unknown>;
  hidden?: boolean;
  /** Value name in help (default `string`/`strings`), e.g. `int`. */
  valueName?: string;
}

/** One command or group. */
export interface Command {
  name: string;
  summary: string;
  /** Usage after the command path, e.g. `<id> [flags]`. */
  usage?: string;
  description?: string;
  examples?: string[];
  flags?: FlagSpec[];
  children?: Command[];
  hidden?: boolean;
  /** Allowed positional argument counts. */
  args?: { min?: number; max?: number };
  run?: (ctx: Context) => Promise<void>;
}

/** Parsed flag values: bool → boolean, string → string, list → string[]. */
export type FlagValues = Record<string, boolean | string | string[]>;

/** The result of parsing argv against the tree. */
export interface Parsed {
  /** Commands from the root to the selected one. */
  path: Command[];
  args: string[];
  flags: FlagValues;
  help: boolean;
}

/** Space-joined command names without the root, e.g. `node describe`. */
export function commandName(path: Command[]): string {
  return path.slice(1).map((c) => c.name).join(" ");
}

function flagsOf(path: Command[]): FlagSpec[] {
  return path.flatMap((c) => c.flags ?? []);
}

function setFlag(flags: FlagValues, spec: FlagSpec, value: string, cmd: string) {
  let v: unknown = value;
  if (spec.schema) {
    const r = spec.schema.safeParse(value);
    if (!r.success) {
      const why = r.error.issues.map((i) => i.message).join("; ");
      throw new UsageError(`invalid value "${value}" for --${spec.name}: ${why}`, cmd);
    }
    v = r.data;
  }
  if (spec.kind === "list") {
    const parts = String(v).split(",").map((s) => s.trim()).filter((s) => s !== "");
    flags[spec.name] = [...(flags[spec.name] as string[] ?? []), ...parts];
  } else flags[spec.name] = spec.kind === "bool" ? v as boolean : String(v);
}

const boolSchema = z.enum(["true", "false", "1", "0"]).transform((s) => s === "true" || s === "1");

/** Parses `argv` against the tree rooted at `root`. */
export function parseArgs(root: Command, argv: string[]): Parsed {
  const path: Command[] = [root];
  const args: string[] = [];
  const flags: FlagValues = {};
  let help = false;
  let onlyArgs = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const cur = path[path.length - 1];
    const cmd = commandName(path);
    if (onlyArgs || a === "-" || !a.startsWith("-")) {
      if (!onlyArgs && args.length === 0 && cur.children?.length) {
        const child = cur.children.find((c) => c.name === a);
        if (!child) {
          throw new UsageError(
            `unknown command "${a}" for "${["metroctl", cmd].join(" ").trim()}"`,
            cmd,
          );
        }
        path.push(child);
        continue;
      }
      args.push(a);
      continue;
    }
    if (a === "--") {
      onlyArgs = true;
      continue;
    }
    if (a === "-h" || a === "--help") {
      help = true;
      continue;
    }
    const long = a.startsWith("--");
    const eq = a.indexOf("=");
    const name = long ? a.slice(2, eq > 0 ? eq : undefined) : a.slice(1, 2);
    const inline = long
      ? (eq > 0 ? a.slice(eq + 1) : undefined)
      : (a.length > 2 ? a.slice(2) : undefined);
    const spec = flagsOf(path).find((f) => long ? f.name === name : f.short === name);
    if (!spec) throw new UsageError(`unknown flag ${long ? "--" : "-"}${name}`, cmd);
    if (spec.kind === "bool") {
      setFlag(flags, { ...spec, schema: boolSchema }, inline ?? "true", cmd);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${spec.name}`, cmd);
      value = argv[++i];
    }
    setFlag(flags, spec, value, cmd);
  }
  // Defaults for absent flags.
  for (const f of flagsOf(path)) {
    if (f.name in flags) continue;
    flags[f.name] = f.kind === "bool" ? false : f.kind === "list" ? [] : f.default ?? "";
  }
  const leaf = path[path.length - 1];
  if (!help) {
    const cmd = commandName(path);
    if (!leaf.run) {
      throw new UsageError(
        cmd === "" ? "no command given" : `"${cmd}" needs a subcommand`,
        cmd,
      );
    }
    const { min = 0, max = Infinity } = leaf.args ?? {};
    if (args.length < min || args.length > max) {
      const want = min === max
        ? `${min}`
        : max === Infinity
        ? `at least ${min}`
        : `${min} to ${max}`;
      throw new UsageError(
        `wrong number of arguments: want ${want}, got ${args.length}`,
        cmd,
      );
    }
  }
  return { path, args, flags, help };
}

function flagLine(f: FlagSpec): string {
  const names = `${f.short ? `-${f.short}, ` : "    "}--${f.name}${
    f.kind === "bool" ? "" : ` ${f.valueName ?? (f.kind === "list" ? "strings" : "string")}`
  }`;
  const def = f.default !== undefined && f.default !== "" ? ` (default "${f.default}")` : "";
  return `  ${names.padEnd(56)} ${f.help}${def}`;
}

/** Help text for the command at the end of `path`. */
export function helpText(path: Command[]): string {
  const cmd = path[path.length - 1];
  const full = ["metroctl", commandName(path)].join(" ").trim();
  const out: string[] = [cmd.description ?? cmd.summary, "", "Usage:"];
  if (cmd.run) out.push(`  ${full} ${cmd.usage ?? "[flags]"}`);
  if (cmd.children?.length) out.push(`  ${full} [command]`);
  const kids = (cmd.children ?? []).filter((c) => !c.hidden);
  if (kids.length) {
    out.push("", "Available Commands:");
    for (const c of kids) out.push(`  ${c.name.padEnd(16)} ${c.summary}`);
  }
  const own = (cmd.flags ?? []).filter((f) => !f.hidden);
  if (own.length) out.push("", "Flags:", ...own.map(flagLine));
  const inherited = path.slice(0, -1).flatMap((c) => c.flags ?? []).filter((f) => !f.hidden);
  if (inherited.length) out.push("", "Global Flags:", ...inherited.map(flagLine));
  if (cmd.examples?.length) out.push("", "Examples:", ...cmd.examples.map((e) => `  ${e}`));
  if (kids.length) {
    out.push("", `Use "${full} [command] --help" for more information about a command.`);
  }
  return out.join("\n") + "\n";
}
