/**
 * Node labels (node.md §12.10): validation of keys and values, the UpdateNodeLabels
 * upsert/delete merge and the lenient clean-up RegisterNode applies to labels a node brings.
 *
 * The rules follow Kubernetes label syntax because labels can be synchronized onto Kubernetes
 * nodes (ClusterConfiguration.kubernetes.node_labels_to_synchronize): a key is an optional DNS
 * subdomain prefix plus `/` and a name; a value may be empty.
 */

/** One label. */
export interface Label {
  /** `[prefix/]name`. */
  key: string;
  /** 0–63 characters. */
  value: string;
}

/** The most labels a node may carry. */
export const MAX_LABELS = 128;

/** Why a label update was refused; the service maps `kind` to a gRPC code. */
export class LabelError extends Error {
  /** "invalid" → INVALID_ARGUMENT, "too_many" → OUT_OF_RANGE. */
  readonly kind: "invalid" | "too_many";

  /** `message` is one line naming the offending key or value. */
  constructor(kind: "invalid" | "too_many", message: string) {
    super(message);
    this.kind = kind;
    this.name = "LabelError";
  }
}

// Name and value share one charset; both ends must be alphanumeric. The `?` group allows a
// single-character string.
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
// RFC 1123 subdomain as Kubernetes checks it: lowercase labels, total length ≤ 253.
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const MAX_PREFIX = 253;

/** Why `key` is not a valid label key, or undefined if it is. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf("/");
  let name = key;
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    name = key.slice(slash + 1);
    if (name.includes("/")) return `label key ${JSON.stringify(key)} has more than one '/'`;
    if (prefix.length === 0) return `label key ${JSON.stringify(key)} has an empty prefix`;
    if (prefix.length > MAX_PREFIX) {
      return `label key ${JSON.stringify(key)}: prefix longer than ${MAX_PREFIX} characters`;
    }
    if (!prefix.split(".").every((l) => DNS_LABEL.test(l))) {
      return `label key ${JSON.stringify(key)}: prefix is not a lowercase DNS subdomain`;
    }
  }
  if (name.length === 0) return `label key ${JSON.stringify(key)} has an empty name`;
  if (name.length > 63) {
    return `label key ${JSON.stringify(key)}: name longer than 63 characters`;
  }
  if (!NAME.test(name)) {
    return `label key ${
      JSON.stringify(key)
    }: name must be [A-Za-z0-9._-] starting and ending alphanumeric`;
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined if it is (the empty value is valid). */
export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63) {
    return `label value ${JSON.stringify(value)} longer than 63 characters`;
  }
  if (!NAME.test(value)) {
    return `label value ${
      JSON.stringify(value)
    } must be [A-Za-z0-9._-] starting and ending alphanumeric`;
  }
  return undefined;
}

const byKey = (a: Label, b: Label) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * UpdateNodeLabels: applies `upserts` and `deletes` to `current` and returns the new label set
 * sorted by key. Throws {@link LabelError} `invalid` for an invalid upsert key or value, an
 * invalid delete key, an upsert key given twice, a delete key given twice, or a key both upserted
 * and deleted; `too_many` when more than {@link MAX_LABELS} labels would result. Deleting an
 * absent key is a no-op. `current` is not modified (labels already stored are not re-validated).
 */
export function applyLabelUpdate(
  current: readonly Label[],
  upserts: readonly Label[],
  deletes: readonly string[],
): Label[] {
  const up = new Map<string, string>();
  for (const { key, value } of upserts) {
    const p = labelKeyProblem(key) ?? labelValueProblem(value);
    if (p) throw new LabelError("invalid", `upsert: ${p}`);
    if (up.has(key)) {
      throw new LabelError("invalid", `upsert: label key ${JSON.stringify(key)} given twice`);
    }
    up.set(key, value);
  }
  const del = new Set<string>();
  for (const key of deletes) {
    const p = labelKeyProblem(key);
    if (p) throw new LabelError("invalid", `delete: ${p}`);
    if (del.has(key)) {
      throw new LabelError("invalid", `delete: label key ${JSON.stringify(key)} given twice`);
    }
    if (up.has(key)) {
      throw new LabelError(
        "invalid",
        `label key ${JSON.stringify(key)} is both upserted and deleted`,
      );
    }
    del.add(key);
  }
  const out = new Map<string, string>();
  for (const { key, value } of current) if (!del.has(key)) out.set(key, value);
  for (const [key, value] of up) out.set(key, value);
  if (out.size > MAX_LABELS) {
    throw new LabelError(
      "too_many",
      `a node may have at most ${MAX_LABELS} labels, the update would leave ${out.size}`,
    );
  }
  return [...out].map(([key, value]) => ({ key, value })).sort(byKey);
}

/**
 * RegisterNode: the labels a registering node asked for, cleaned up instead of refused (a node
 * must be able to register even with bad parameters): invalid labels are skipped, a repeated key
 * keeps its last value, and once {@link MAX_LABELS} distinct keys are accepted further new keys
 * are dropped (in request order). The result is sorted by key.
 */
export function sanitizeRegisterLabels(pairs: readonly Label[]): Label[] {
  const out = new Map<string, string>();
  for (const { key, value } of pairs) {
    if (labelKeyProblem(key) !== undefined || labelValueProblem(value) !== undefined) continue;
    if (!out.has(key) && out.size >= MAX_LABELS) continue;
    out.set(key, value);
  }
  return [...out].map(([key, value]) => ({ key, value })).sort(byKey);
}
