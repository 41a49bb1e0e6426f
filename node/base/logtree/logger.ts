/**
 * The leveled logger interface that code throughout the node uses, and the caller-location lookup
 * that fills in `file:line`.
 */
import type { Severity } from "./entry.ts";

/** Options for {@link LeveledLogger.log} when the entry comes from elsewhere (parsed lines). */
export interface LogOptions {
  /** `file:line`; derived from the caller's stack when absent. */
  location?: string;
  /** Timestamp in µs since the Unix epoch; now when absent. */
  timeUs?: number;
}

/**
 * A leveled logger bound to one DN. Arguments are joined with spaces (strings as they are,
 * Errors as their stack, other values as JSON where possible). `fatal` only logs with severity
 * FATAL; it does not end anything.
 */
export interface LeveledLogger {
  /** The DN this logger writes to. */
  readonly dn: string;
  info(...args: unknown[]): void;
  warning(...args: unknown[]): void;
  error(...args: unknown[]): void;
  fatal(...args: unknown[]): void;
  /** Logs `message` (split at `\n` into lines) with an explicit severity and options. */
  log(severity: Severity, message: string, opts?: LogOptions): void;
}

/** Renders logger arguments into one message string. */
export function formatArgs(args: unknown[]): string {
  return args.map((a) => {
    if (typeof a === "string") return a;
    if (a instanceof Error) return a.stack ?? `${a.name}: ${a.message}`;
    if (a === undefined || typeof a === "function" || typeof a === "symbol") return String(a);
    if (typeof a === "bigint") return `${a}`;
    try {
      return JSON.stringify(a) ?? String(a);
    } catch {
      return String(a);
    }
  }).join(" ");
}

const FRAME = /\(?((?:file|https?|data|ext|node|npm):[^\s()]*?|\/[^\s():]*?):(\d+):\d+\)?\s*$/;

/**
 * Returns `file:line` (basename) of the first stack frame outside the files in `skip`, or
 * `unknown:0`. `skip` holds module URLs (`import.meta.url`) of logging wrappers.
 */
export function callerLocation(skip: ReadonlySet<string>): string {
  const stack = new Error().stack ?? "";
  for (const line of stack.split("\n").slice(1)) {
    const m = FRAME.exec(line);
    if (!m) continue;
    const file = m[1];
    if (skip.has(file) || file === import.meta.url) continue;
    const base = file.slice(file.lastIndexOf("/") + 1);
    return `${base}:${m[2]}`;
  }
  return "unknown:0";
}
