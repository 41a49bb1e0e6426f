/**
 * Distinguished names (DNs) of the log tree: dot-separated paths such as `root.role.consensus`.
 * The empty DN `""` is the root of the tree; it can be read from but not written to.
 */

/** A DN; validate with {@link validateDN} before trusting one that came from outside. */
export type DN = string;

/** Returns why `dn` is not a valid DN, or undefined when it is valid. `""` (the root) is valid. */
export function dnError(dn: string): string | undefined {
  if (typeof dn !== "string") return `invalid DN: not a string`;
  if (dn === "") return undefined;
  const parts = dn.split(".");
  for (const p of parts) {
    if (p === "") return `invalid DN ${JSON.stringify(dn)}: empty part`;
    if (/\s/.test(p)) return `invalid DN ${JSON.stringify(dn)}: part contains whitespace`;
  }
  return undefined;
}

/** True when `dn` is a valid DN (including the root `""`). */
export function isValidDN(dn: string): boolean {
  return dnError(dn) === undefined;
}

/** Throws an Error naming the problem when `dn` is not a valid DN. */
export function validateDN(dn: string): DN {
  const err = dnError(dn);
  if (err !== undefined) throw new Error(err);
  return dn;
}

/** True when `dn` equals `ancestor` or lies below it (every DN lies below the root `""`). */
export function isAtOrBelow(dn: DN, ancestor: DN): boolean {
  if (ancestor === "") return true;
  return dn === ancestor || dn.startsWith(ancestor + ".");
}

/** The parent DN (`a.b` → `a`, `a` → `""`); the root has no parent (returns undefined). */
export function parentDN(dn: DN): DN | undefined {
  if (dn === "") return undefined;
  const i = dn.lastIndexOf(".");
  return i < 0 ? "" : dn.slice(0, i);
}

/** Joins a DN and a child part (`""` + `a` → `a`). Does not validate. */
export function childDN(dn: DN, part: string): DN {
  return dn === "" ? part : `${dn}.${part}`;
}
