/**
 * Log entries as plain TypeScript values.
 *
 * Mapping to `osbase.logtree.proto.LogEntry` (done by node/core/mgmt, not here):
 * - `dn` → `LogEntry.dn`;
 * - `leveled` → `LogEntry.leveled`: `lines` → `lines`, `timeUs` (µs since the Unix epoch) →
 *   `timestamp` {seconds: floor(timeUs / 1e6), nanos: (timeUs mod 1e6) × 1000}, `severity` →
 *   `LeveledLogSeverity` (INFO=1, WARNING=2, ERROR=3, FATAL=4, see {@link SEVERITY_NUMBER}),
 *   `location` → `location`;
 * - `raw` → `LogEntry.raw`: `data` → `data`, `originalLength` → `original_length` (0 when the
 *   line was not cut).
 * `seq` and the raw entry's `timeUs` are local bookkeeping and have no wire field.
 */

/** Severity of a leveled entry, in increasing order of importance. */
export type Severity = "INFO" | "WARNING" | "ERROR" | "FATAL";

/** All severities, lowest first. */
export const SEVERITIES: readonly Severity[] = ["INFO", "WARNING", "ERROR", "FATAL"];

/** Wire numbers of `osbase.logtree.proto.LeveledLogSeverity`. */
export const SEVERITY_NUMBER: Readonly<Record<Severity, number>> = {
  INFO: 1,
  WARNING: 2,
  ERROR: 3,
  FATAL: 4,
};

/** Single-letter form used by the text formats. */
export const SEVERITY_LETTER: Readonly<Record<Severity, string>> = {
  INFO: "I",
  WARNING: "W",
  ERROR: "E",
  FATAL: "F",
};

/** True when severity `s` is at least `min`. */
export function severityAtLeast(s: Severity, min: Severity): boolean {
  return SEVERITIES.indexOf(s) >= SEVERITIES.indexOf(min);
}

/** Parses `INFO`/`WARNING`/`ERROR`/`FATAL` or the letters `I`/`W`/`E`/`F`. */
export function parseSeverity(s: string): Severity | undefined {
  const u = s.toUpperCase();
  for (const sev of SEVERITIES) if (sev === u || SEVERITY_LETTER[sev] === u) return sev;
  return undefined;
}

/** A structured entry: one message (possibly multi-line) kept as one atomic entry. */
export interface LeveledPayload {
  /** The message split at `\n`; at least one element. */
  lines: string[];
  /** Time of the entry in microseconds since the Unix epoch. */
  timeUs: number;
  severity: Severity;
  /** Source location as `file:line`. */
  location: string;
}

/** One line of a byte stream (untrusted content). */
export interface RawPayload {
  /** The line, cut to at most {@link RAW_LINE_MAX_BYTES} UTF-8 bytes. */
  data: string;
  /** Length in bytes of the original line when it was cut, else 0. */
  originalLength: number;
  /** Time the line was written, µs since the Unix epoch (not on the wire). */
  timeUs: number;
}

/** Raw lines are cut at this many bytes. */
export const RAW_LINE_MAX_BYTES = 1024;

/** One entry of the log tree: exactly one of `leveled` and `raw` is set. */
export interface LogEntry {
  /** The DN the entry was written to. */
  dn: string;
  /** Global write order (strictly increasing across the whole tree). */
  seq: number;
  leveled?: LeveledPayload;
  raw?: RawPayload;
}

/** Current time in microseconds since the Unix epoch (sub-millisecond from the monotonic clock). */
export function nowUs(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}
