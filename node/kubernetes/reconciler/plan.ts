/**
 * What one reconciler pass must do, computed from the wanted list and what the apiserver holds:
 * create the missing, update the differing, delete labelled strays. Pure, so every case is
 * tested without an apiserver.
 */
import type { KubeObject } from "../client/client.ts";
import { BUILTIN_LABEL } from "./objects.ts";

/** One step of a pass. */
export type Action =
  | { op: "create" | "update"; object: KubeObject }
  | { op: "delete"; kind: string; name: string };

/**
 * Whether `have` differs from `want` in a field we own, i.e. a field present in `want`. Objects
 * are compared key by key (extra keys in `have` are the apiserver's defaults or other managers'
 * fields, which we leave alone); arrays must be equal element by element, because every list we
 * set (rules, subjects, mount options, lifecycle modes) is atomic and an added element matters.
 */
export function differs(want: unknown, have: unknown, exact = false): boolean {
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || have.length !== want.length) return true;
    return want.some((w, i) => differs(w, have[i], true));
  }
  if (want !== null && typeof want === "object") {
    if (have === null || typeof have !== "object" || Array.isArray(have)) return true;
    const w = want as Record<string, unknown>;
    const h = have as Record<string, unknown>;
    if (exact && Object.keys(h).some((k) => !(k in w))) return true;
    return Object.keys(w).some((k) => differs(w[k], h[k], exact));
  }
  return want !== have;
}

/**
 * The actions that make `have` (every existing object of each managed kind, by kind) equal to
 * `want`: create/update in list order, then deletions of labelled objects not in the list.
 * An object of a wanted name that lost the builtin label counts as differing (the label is a
 * field we own), so it is updated rather than left out of the next pass's bookkeeping.
 */
export function plan(want: KubeObject[], have: Record<string, KubeObject[]>): Action[] {
  const out: Action[] = [];
  const wanted = new Set(want.map((o) => `${o.kind}/${o.metadata.name}`));
  for (const w of want) {
    const h = (have[w.kind] ?? []).find((o) => o.metadata?.name === w.metadata.name);
    if (!h) out.push({ op: "create", object: w });
    else if (differs(stripTypeMeta(w), h)) out.push({ op: "update", object: w });
  }
  for (const [kind, objects] of Object.entries(have)) {
    for (const o of objects) {
      const name = o.metadata?.name;
      if (o.metadata?.labels?.[BUILTIN_LABEL] !== "true") continue;
      if (!wanted.has(`${kind}/${name}`)) out.push({ op: "delete", kind, name });
    }
  }
  return out;
}

// Items of a LIST carry no apiVersion/kind, so those are not compared.
function stripTypeMeta(o: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}
