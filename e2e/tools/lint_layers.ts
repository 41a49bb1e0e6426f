/**
 * `deno task lint:layers`: enforces the layering rules of architecture.md §6 by resolving every
 * relative import of every TypeScript file in the repository.
 */
import { findFiles } from "../run.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** A rule: files under `from` must not import files matching `deny` unless they match `allow`. */
interface Rule {
  from: (f: string) => boolean;
  deny: (target: string) => boolean;
  allow?: (target: string, from: string) => boolean;
  why: string;
}

const under = (p: string) => (f: string) => f === p || f.startsWith(p + "/");

/** The rules, in the words of architecture.md §6. */
export const RULES: Rule[] = [
  {
    from: under("node/base"),
    deny: (t) => under("node/core")(t) || under("node/kubernetes")(t) || under("metroctl")(t),
    why: "node/base imports nothing from node/core, node/kubernetes, metroctl",
  },
  {
    from: under("proto"),
    deny: (t) => !under("proto")(t),
    why: "proto/ imports nothing of ours except its own files",
  },
  {
    from: under("metroctl"),
    deny: (t) => under("node")(t),
    allow: (t) =>
      under("node/base")(t) || under("node/core/identity")(t) || under("node/core/rpc")(t) ||
      under("node/core/constants")(t),
    why: "metroctl may import proto/, node/base and node/core/{identity,rpc,constants} only",
  },
  {
    from: under("node/core"),
    deny: (t) => under("node/kubernetes")(t),
    allow: (_t, from) => under("node/core/roleserve")(from),
    why: "node/core imports node/kubernetes only through node/core/roleserve",
  },
  {
    from: (f) => under("node")(f) || under("metroctl")(f) || under("proto")(f),
    deny: (t) => under("e2e")(t) || under("os-image")(t) || under("bazel")(t),
    why: "shipped code never imports test, launcher or build code",
  },
];

const IMPORT_RE =
  /(?:import|export)\s[^"'`;]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

/** Returns the repo-relative targets of a file's relative imports. */
export function relativeImports(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec || !spec.startsWith(".")) continue;
    const url = new URL(spec, `file:///${file}`);
    out.push(url.pathname.slice(1));
  }
  return out;
}

/** Checks every file and returns violations as human-readable lines. */
export async function check(): Promise<string[]> {
  const files = await findFiles(ROOT, (f) => f.endsWith(".ts"));
  const errors: string[] = [];
  for (const f of files) {
    const text = await Deno.readTextFile(`${ROOT}/${f}`);
    for (const t of relativeImports(f, text)) {
      for (const r of RULES) {
        if (r.from(f) && r.deny(t) && !(r.allow?.(t, f))) {
          errors.push(`${f}: imports ${t}: ${r.why}`);
        }
      }
    }
  }
  return errors;
}

if (import.meta.main) {
  const errors = await check();
  for (const e of errors) console.error(`lint:layers: ${e}`);
  if (errors.length) Deno.exit(1);
  console.log("lint:layers: ok");
}
