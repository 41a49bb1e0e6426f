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

interface CallSite {
  getFileName(): string | null | undefined;
  getLineNumber(): number | null;
}

// deno-lint-ignore no-explicit-any
const V8Error = Error as any;

/** Strips a `file://` scheme so file names from call sites and `import.meta.url` compare. */
function plainPath(f: string): string {
  return f.startsWith("file://") ? decodeURIComponent(f.slice(7)) : f;
}

/**
 * Whether a frame's file is code of ours: a local file (a module of the tree or the bundle), not
 * a runtime-internal module (`ext:core/01_core.js`, `ext:deno_node/_events.mjs`, `node:…`) and not
 * an npm package outside the bundle (Deno's npm cache or a node_modules directory).
 */
function isOurs(path: string): boolean {
  return path.startsWith("/") && !path.includes("/node_modules/") &&
    !path.includes("/npm/registry.");
}

/** Frames looked at: enough to get past event-emitter and promise plumbing of the runtime. */
const STACK_FRAMES = 32;

/**
 * Returns `file:line` (basename) of the first stack frame in our code (see {@link isOurs}) outside
 * the files in `skip`, or "" when there is none (a logger method called directly by the runtime,
 * e.g. as a promise callback). `skip` holds module URLs (`import.meta.url`) of logging wrappers.
 * Uses V8's structured call sites (≈ 5× cheaper than formatting a stack string).
 */
export function callerLocation(skip: ReadonlySet<string>): string {
  const prevPrepare = V8Error.prepareStackTrace;
  const prevLimit = V8Error.stackTraceLimit;
  let sites: unknown;
  try {
    V8Error.stackTraceLimit = STACK_FRAMES;
    V8Error.prepareStackTrace = (_: unknown, cs: CallSite[]) => cs;
    const holder: { stack?: unknown } = {};
    V8Error.captureStackTrace(holder, callerLocation);
    sites = holder.stack;
  } finally {
    V8Error.prepareStackTrace = prevPrepare;
    V8Error.stackTraceLimit = prevLimit;
  }
  if (!Array.isArray(sites)) return "";
  const skipPaths = new Set([...skip].map(plainPath));
  for (const cs of sites as CallSite[]) {
    const f = cs.getFileName?.();
    if (!f) continue;
    const p = plainPath(f);
    if (!isOurs(p) || skipPaths.has(p)) continue;
    return `${p.slice(p.lastIndexOf("/") + 1)}:${cs.getLineNumber() ?? 0}`;
  }
  return "";
}

/**
 * `file:line` (basename) of the innermost frame in our code (see {@link isOurs}) of a formatted
 * V8 stack (`err.stack`), or "" when there is none: where an error was thrown, skipping frames of
 * the runtime (an op error is created in `ext:core/01_core.js`) and of npm packages.
 */
export function stackLocation(stack: string | undefined): string {
  for (const line of (stack ?? "").split("\n").slice(1)) {
    const m = /\(?(\S+?):(\d+):\d+\)?\s*$/.exec(line.trim());
    if (!m) continue;
    const p = plainPath(m[1].replace(/^at /, ""));
    if (isOurs(p)) return `${p.slice(p.lastIndexOf("/") + 1)}:${m[2]}`;
  }
  return "";
}
