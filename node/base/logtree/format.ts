/**
 * Text forms of log entries (node.md §5): the full leveled/raw format used by `metroctl node logs`
 * and files, and the concise format used on consoles. Timestamps are printed in UTC.
 */
import { type LogEntry, SEVERITY_LETTER } from "./entry.ts";

const pad2 = (n: number) => String(n).padStart(2, "0");

/** The `MMDD hh:mm:ss.uuuuuu` part of the leveled format for a µs timestamp (UTC). */
export function formatTimestamp(timeUs: number): string {
  const ms = Math.floor(timeUs / 1000);
  const d = new Date(ms);
  const us = ((timeUs % 1_000_000) + 1_000_000) % 1_000_000;
  return `${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${
    pad2(d.getUTCMinutes())
  }:${pad2(d.getUTCSeconds())}.${String(us).padStart(6, "0")}`;
}

/** Raw data as shown in text: the data, followed by `...` when the line was cut. */
export function rawText(e: { data: string; originalLength: number }): string {
  return e.originalLength > 0 ? `${e.data}...` : e.data;
}

/**
 * Full text form, one output line per message line:
 * leveled `%-32s %s%02d%02d %02d:%02d:%02d.%06d %s] %s`, raw `%-32s R %s`.
 */
export function formatEntry(e: LogEntry): string[] {
  const dn = e.dn.padEnd(32);
  if (e.leveled) {
    const l = e.leveled;
    // No location (a logger called directly by the runtime): nothing between time and "]".
    const where = l.location ? ` ${l.location}` : "";
    const head = `${dn} ${SEVERITY_LETTER[l.severity]}${formatTimestamp(l.timeUs)}${where}] `;
    return l.lines.map((line) => head + line);
  }
  if (e.raw) return [`${dn} R ${rawText(e.raw)}`];
  throw new Error(`log entry for ${e.dn} has neither leveled nor raw payload`);
}

/**
 * Replacements applied, in order, to DNs longer than the concise DN width before the tail is
 * kept. Longer keys come before their prefixes (`networking` before `network`).
 */
export const SHORTEN_DICTIONARY: ReadonlyArray<readonly [string, string]> = [
  ["root.role.", "r."],
  ["kubernetes", "k8s"],
  ["controlplane", "cplane"],
  ["controller-manager", "controllers"],
  ["networking", "net"],
  ["network", "net"],
  ["interfaces", "ifaces"],
  ["consensus", "cons"],
  ["enrolment", "enrol"],
];

/** Shortens `dn` to at most `width` characters: dictionary replacements, then the tail. */
export function shortenDN(
  dn: string,
  width: number,
  dict: ReadonlyArray<readonly [string, string]> = SHORTEN_DICTIONARY,
): string {
  if (dn.length <= width) return dn;
  let s = dn;
  for (const [from, to] of dict) {
    s = s.split(from).join(to);
    if (s.length <= width) return s;
  }
  return s.slice(s.length - width);
}

/** DN column width of the concise format for a terminal `width` (20, or 16 for 60–79 columns). */
export function conciseDNWidth(width: number): number {
  return width >= 60 && width < 80 ? 16 : 20;
}

/**
 * Concise text form (consoles): the shortened DN right-aligned in the DN column, the severity
 * letter or `R`, then the text; continuation lines are indented to the DN column and start with
 * `| ` (under the severity letter). `width` is the terminal width (default 80).
 */
export function formatConcise(e: LogEntry, width = 80): string[] {
  const w = conciseDNWidth(width);
  const dn = shortenDN(e.dn, w).padStart(w);
  if (e.leveled) {
    const [first, ...rest] = e.leveled.lines;
    const cont = " ".repeat(w) + " | ";
    return [`${dn} ${SEVERITY_LETTER[e.leveled.severity]} ${first}`, ...rest.map((l) => cont + l)];
  }
  if (e.raw) return [`${dn} R ${rawText(e.raw)}`];
  throw new Error(`log entry for ${e.dn} has neither leveled nor raw payload`);
}
