/**
 * What the labelmaker puts on a Kubernetes Node (kubernetes.md §10): a `node-role` label per
 * Metropolis role and the Metropolis labels selected by the cluster's
 * `node_labels_to_synchronize` rules — and when that differs from what it applied last. Pure.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { ClusterConfigurationSchema } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { ROLES } from "../../core/constants/roles.ts";
import type { KnownNode } from "../../core/roleserve/context.ts";
import type { KubeObject } from "../client/client.ts";

/** Field manager of the labelmaker's applies. */
export const FIELD_MANAGER = "metropolis-labelmaker";
/** Prefix of the role labels. */
export const ROLE_LABEL_PREFIX = "node-role.kubernetes.io/";

/**
 * The labels the labelmaker manages on `node`'s Kubernetes Node: `node-role.kubernetes.io/<Role>:
 * ""` for each role held, plus every Metropolis label whose key matches one of `patterns`
 * (unanchored, like Go's `regexp.MatchString`).
 */
export function managedLabels(node: KnownNode, patterns: RegExp[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(node.labels ?? {})) {
    if (patterns.some((p) => matches(p, k))) out[k] = v;
  }
  for (const r of ROLES) if (node[r.field]) out[ROLE_LABEL_PREFIX + r.name] = "";
  return out;
}

// A global or sticky RegExp keeps state between test() calls; matching must not.
function matches(p: RegExp, s: string): boolean {
  p.lastIndex = 0;
  return p.test(s);
}

/**
 * Compiles `node_labels_to_synchronize` rules. The curator validated them as RE2; here they run
 * as JavaScript regular expressions, which agree on the common subset (classes, anchors,
 * alternation, repetition). RE2-only syntax (`(?P<name>…)`, `\z`, `(?i)`, POSIX classes) does
 * not compile here: such a rule is skipped and reported through `problem`, instead of
 * stopping the labels of every other rule.
 */
export function compilePatterns(sources: string[], problem: (msg: string) => void): RegExp[] {
  const out: RegExp[] = [];
  for (const s of sources) {
    try {
      out.push(new RegExp(s));
    } catch (e) {
      problem(
        `node_labels_to_synchronize rule ${JSON.stringify(s)} skipped: ${(e as Error).message}`,
      );
    }
  }
  return out;
}

/** The rule sources of a stored `ClusterConfiguration` (none when the key is absent). */
export function rulesFromConfiguration(bytes: Uint8Array | undefined): string[] {
  if (!bytes) return [];
  const c = fromBinary(ClusterConfigurationSchema, bytes);
  return c.kubernetes?.nodeLabelsToSynchronize.map((r) => r.regexp) ?? [];
}

/** Label keys `manager` owns on `node`, from the server-side apply bookkeeping (managedFields). */
export function ownedLabelKeys(node: KubeObject, manager = FIELD_MANAGER): string[] {
  const keys = new Set<string>();
  for (const f of node.metadata?.managedFields ?? []) {
    if (f.manager !== manager || f.operation !== "Apply") continue;
    for (const k of Object.keys(f.fieldsV1?.["f:metadata"]?.["f:labels"] ?? {})) {
      if (k.startsWith("f:")) keys.add(k.slice(2));
    }
  }
  return [...keys];
}

/**
 * Whether `node` needs an apply to carry exactly `want` as the labelmaker's labels: a wanted
 * label is missing or has another value, or a label the labelmaker owns is no longer wanted.
 * Labels of other writers are not looked at.
 */
export function needsApply(node: KubeObject, want: Record<string, string>): boolean {
  const have: Record<string, string> = node.metadata?.labels ?? {};
  if (Object.entries(want).some(([k, v]) => have[k] !== v)) return true;
  return ownedLabelKeys(node).some((k) => !(k in want));
}

/** The apply body: only the labels, so the labelmaker owns nothing else of the Node. */
export function applyBody(name: string, labels: Record<string, string>): KubeObject {
  return { apiVersion: "v1", kind: "Node", metadata: { name, labels } };
}
