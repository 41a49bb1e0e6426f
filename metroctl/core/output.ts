/**
 * Output formats (metroctl.md §3): the padded plain table, JSON (2-space indent) and YAML carrying
 * the same data, and the sink (stdout or the `-o FILE` file).
 */

/** Output format names. */
export const FORMATS = ["plaintext", "json", "yaml"] as const;
/** One output format. */
export type Format = typeof FORMATS[number];

/** A table row: column key → value (missing keys are empty cells). */
export type Row = Record<string, string>;

/**
 * The plain table: columns are the union of keys in first-seen order (or `columns` when given),
 * header upper-cased, every cell left-aligned and padded to width + 3.
 */
export function formatTable(rows: Row[], columns?: string[]): string {
  const cols: string[] = columns ? [...columns] : [];
  if (!columns) {
    for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  }
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) => cells.map((v, i) => v.padEnd(width[i] + 3)).join("") + "\n";
  return line(cols.map((c) => c.toUpperCase())) +
    rows.map((r) => line(cols.map((c) => r[c] ?? ""))).join("");
}

/** JSON with 2-space indentation and a trailing newline. */
export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

const PLAIN = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|y|n|~)$/i;

function scalar(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  const s = String(v);
  // Quoted strings use JSON escapes, which are valid YAML double-quoted scalars.
  return PLAIN.test(s) && !RESERVED.test(s) ? s : JSON.stringify(s);
}

function yamlLines(v: unknown, indent: string): string[] {
  if (Array.isArray(v)) {
    if (v.length === 0) return [`${indent}[]`];
    return v.flatMap((item) => {
      if (isContainer(item) && !isEmpty(item)) {
        const inner = yamlLines(item, indent + "  ");
        return [`${indent}- ${inner[0].trimStart()}`, ...inner.slice(1)];
      }
      return [`${indent}- ${isEmpty(item) ? emptyOf(item) : scalar(item)}`];
    });
  }
  if (isContainer(v)) {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) return [`${indent}{}`];
    return entries.flatMap(([k, val]) => {
      const key = scalar(k);
      if (isContainer(val) && !isEmpty(val)) {
        return [`${indent}${key}:`, ...yamlLines(val, indent + "  ")];
      }
      return [`${indent}${key}: ${isEmpty(val) ? emptyOf(val) : scalar(val)}`];
    });
  }
  return [`${indent}${scalar(v)}`];
}

function isContainer(v: unknown): boolean {
  return typeof v === "object" && v !== null;
}

function isEmpty(v: unknown): boolean {
  return isContainer(v) && Object.keys(v as object).length === 0;
}

function emptyOf(v: unknown): string {
  return Array.isArray(v) ? "[]" : "{}";
}

/** Block-style YAML of a JSON-compatible value, ending with a newline. */
export function formatYaml(value: unknown): string {
  return yamlLines(value, "").join("\n") + "\n";
}

/** Formats `value` as JSON or YAML. */
export function formatDocument(value: unknown, format: "json" | "yaml"): string {
  return format === "json" ? formatJson(value) : formatYaml(value);
}
