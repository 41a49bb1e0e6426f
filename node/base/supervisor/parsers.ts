/**
 * Parsers turning output lines of well-known programs into leveled entries (node.md §4.6):
 * `klog` (Kubernetes components) and `etcd-json` (etcd's zap JSON logger).
 */
import type { Severity } from "../logtree/entry.ts";

/** A line parsed into the parts of a leveled entry. */
export interface ParsedLine {
  severity: Severity;
  /** µs since the Unix epoch. */
  timeUs: number;
  /** `file:line`. */
  location: string;
  message: string;
}

/** A line parser; returns undefined when the line is not in its format. */
export type LineParser = (line: string, nowMs?: number) => ParsedLine | undefined;

const KLOG =
  /^([IWEF])(\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6})\s+\d+\s+([^\s:\]]+):(\d+)\] ?(.*)$/s;
const KLOG_SEV: Record<string, Severity> = { I: "INFO", W: "WARNING", E: "ERROR", F: "FATAL" };

/**
 * Parses a klog header line `Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg`. The year is not in
 * the line: the current UTC year is used, or the previous one when that would put the entry more
 * than a day into the future (lines read just after New Year).
 */
export function parseKlog(line: string, nowMs = Date.now()): ParsedLine | undefined {
  const m = KLOG.exec(line);
  if (!m) return undefined;
  const [, sev, mo, d, h, mi, s, us, file, ln, msg] = m;
  const year = new Date(nowMs).getUTCFullYear();
  const at = (y: number) => Date.UTC(y, +mo - 1, +d, +h, +mi, +s);
  let ms = at(year);
  if (ms > nowMs + 86_400_000) ms = at(year - 1);
  if (Number.isNaN(ms)) return undefined;
  return {
    severity: KLOG_SEV[sev],
    timeUs: ms * 1000 + Number(us),
    location: `${file}:${ln}`,
    message: msg,
  };
}

const ZAP_SEV: Record<string, Severity> = {
  debug: "INFO",
  info: "INFO",
  warn: "WARNING",
  warning: "WARNING",
  error: "ERROR",
  dpanic: "ERROR",
  panic: "FATAL",
  fatal: "FATAL",
};

/** Parses an RFC 3339 timestamp with up to 9 fractional digits into µs since the epoch. */
export function parseRfc3339Us(ts: string): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})$/.exec(ts);
  if (!m) return undefined;
  const zone = m[3] === "Z"
    ? "Z"
    : m[3].length === 5
    ? `${m[3].slice(0, 3)}:${m[3].slice(3)}`
    : m[3];
  const ms = Date.parse(`${m[1]}${zone}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = (m[2] ?? "").slice(0, 6).padEnd(6, "0");
  return ms * 1000 + Number(frac);
}

/**
 * Parses one line of etcd's JSON log (`{"level":"info","ts":"…","caller":"file.go:12","msg":…}`).
 * `ts` may be RFC 3339 or seconds as a number. Fields other than level/ts/caller/msg are appended
 * to the message as `key=<JSON>`.
 */
export function parseEtcdJson(line: string): ParsedLine | undefined {
  if (!line.startsWith("{")) return undefined;
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) return undefined;
  const r = o as Record<string, unknown>;
  const level = typeof r.level === "string" ? ZAP_SEV[r.level.toLowerCase()] : undefined;
  if (!level || typeof r.msg !== "string") return undefined;
  let timeUs: number | undefined;
  if (typeof r.ts === "string") timeUs = parseRfc3339Us(r.ts);
  else if (typeof r.ts === "number") timeUs = Math.round(r.ts * 1e6);
  if (timeUs === undefined) return undefined;
  const extra = Object.entries(r)
    .filter(([k]) => !["level", "ts", "caller", "msg"].includes(k))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return {
    severity: level,
    timeUs,
    location: typeof r.caller === "string" ? r.caller : "unknown:0",
    message: [r.msg, ...extra].join(" "),
  };
}

/** Parsers by the name used in {@link RunCommandOptions.parser}. */
export const PARSERS: Readonly<Record<"klog" | "etcd-json", LineParser>> = {
  klog: parseKlog,
  "etcd-json": parseEtcdJson,
};
