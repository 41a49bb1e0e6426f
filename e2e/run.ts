/**
 * The project's test command (`deno task test`, `.ci/run`).
 *
 * Runs the tiers this machine can run and ends with one line `N passed, N failed` that sums all of
 * them:
 * - `gates`: Deno version pin, `deno fmt --check`, `deno lint`, `deno check`, layering rules,
 *   generated protobuf code up to date. Each gate counts as one test.
 * - `unit`: every `*_test.ts` but the tier 2 and 3 suites (tier 1; e.g. a suite helper's own tests).
 * - `ns`: `e2e/suites/**\/*_ns_test.ts` (tier 2, namespace nodes; needs root).
 * - `vm`: `e2e/suites/**\/*_vm_test.ts` (tier 3, VMs; needs root and qemu).
 *
 * Usage: `deno run -A e2e/run.ts <all|gates|unit|ns|vm> [-- extra deno test args]`.
 */
import { exists } from "../node/base/sys/exists.ts";
import { buildKube } from "../node/kubernetes/hyperkube/build.ts";
import { diesWithParent } from "../node/base/sys/parent_death.ts";

/** The Deno version the project is pinned to (README commands use `npx --yes deno@<this>`). */
export const DENO_PIN = "2.9.6";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

interface Tally {
  passed: number;
  failed: number;
  skipped: number;
  /** `file > test name: first line of the failure` for each failed test case. */
  failures: string[];
}

function emptyTally(): Tally {
  return { passed: 0, failed: 0, skipped: 0, failures: [] };
}

/** Walks the repository (skipping output and VCS directories) and returns matching files. */
export async function findFiles(dir: string, pred: (rel: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  const skip = new Set([".git", "dist", "node_modules", ".cache"]);
  async function walk(d: string) {
    for await (const e of Deno.readDir(d)) {
      if (skip.has(e.name) || e.name.startsWith("bazel-")) continue;
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile && pred(p.slice(ROOT.length + 1))) out.push(p.slice(ROOT.length + 1));
    }
  }
  await walk(dir);
  return out.sort();
}

async function run(cmd: string[], opts: { quiet?: boolean } = {}): Promise<boolean> {
  // A tier must not run on after the runner was killed (its namespace nodes and VMs die with it
  // in turn); the next launcher on a subnet removes the namespaces and links left behind.
  const [c, ...args] = diesWithParent(cmd);
  const p = new Deno.Command(c, {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: opts.quiet ? "piped" : "inherit",
    stderr: opts.quiet ? "piped" : "inherit",
  });
  const r = await p.output();
  if (!r.success && opts.quiet) {
    await Deno.stdout.write(r.stdout);
    await Deno.stderr.write(r.stderr);
  }
  return r.success;
}

async function gates(): Promise<Tally> {
  const t = emptyTally();
  const deno = Deno.execPath();
  const ts = await findFiles(ROOT, (f) => f.endsWith(".ts") && !f.startsWith("proto/gen/"));
  const gate = async (name: string, fn: () => Promise<boolean>) => {
    const start = performance.now();
    const ok = await fn();
    const secs = ((performance.now() - start) / 1000).toFixed(1);
    console.log(`gate ${name} ... ${ok ? "ok" : "FAILED"} (${secs}s)`);
    if (ok) t.passed++;
    else {
      t.failed++;
      t.failures.push(`gate ${name}`);
    }
  };
  await gate("deno version", () => {
    if (Deno.version.deno === DENO_PIN) return Promise.resolve(true);
    console.error(`error: Deno ${Deno.version.deno} runs this, the project pins ${DENO_PIN}`);
    return Promise.resolve(false);
  });
  await gate("deno fmt --check", () => run([deno, "fmt", "--check", "--quiet"]));
  await gate("deno lint", () => run([deno, "lint", "--quiet"]));
  await gate("deno check", () => run([deno, "check", "--quiet", ...ts], { quiet: true }));
  await gate("lint:layers", () => run([deno, "run", "-A", "e2e/tools/lint_layers.ts"]));
  if (await exists(`${ROOT}/proto/generate.ts`)) {
    await gate("proto up to date", () => run([deno, "run", "-A", "proto/generate.ts", "--check"]));
  }
  return t;
}

/** Runs `deno test` over files and tallies results from its JUnit report. */
async function denoTest(tier: string, files: string[], extra: string[]): Promise<Tally> {
  if (files.length === 0) {
    console.log(`test: ${tier}: no test files`);
    return emptyTally();
  }
  const junit = await Deno.makeTempFile({ prefix: `metropolis-${tier}-`, suffix: ".xml" });
  const ok = await run([
    Deno.execPath(),
    "test",
    "-A",
    "--no-check",
    `--junit-path=${junit}`,
    ...extra,
    ...files,
  ]);
  const t = tallyJunit(await Deno.readTextFile(junit).catch(() => ""));
  await Deno.remove(junit).catch(() => {});
  // A crash of the runner itself (e.g. a file failing to load) must never count as green.
  if (!ok && t.failed === 0) {
    t.failed = 1;
    t.failures.push(`deno test itself failed (see its output above)`);
  }
  return t;
}

/** Counts test cases in a JUnit XML report produced by `deno test --junit-path`. */
export function tallyJunit(xml: string): Tally {
  const t = emptyTally();
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const body = m[3] ?? "";
    const failure = /<(failure|error)\b([^>]*)>/.exec(body);
    if (failure) {
      t.failed++;
      const attr = (name: string, s: string) =>
        unescapeXml(new RegExp(`\\b${name}="([^"]*)"`).exec(s)?.[1] ?? "");
      const file = attr("classname", m[1]).replace(/^(\.\.\/)+|^\.\//, "");
      const why = attr("message", failure[2]).split("\n")[0].slice(0, 160);
      t.failures.push(`${file} > ${attr("name", m[1])}${why ? `: ${why}` : ""}`);
    } else if (/<skipped\b/.test(body)) t.skipped++;
    else t.passed++;
  }
  return t;
}

function unescapeXml(s: string): string {
  const named: Record<string, string> = { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" };
  return s.replace(
    /&(#\d+|lt|gt|quot|apos|amp);/g,
    (_, e: string) => e.startsWith("#") ? String.fromCharCode(Number(e.slice(1))) : named[e],
  );
}

function isRoot(): boolean {
  return Deno.uid() === 0;
}

/**
 * Builds (or finds cached) the `kube` binary before the unit tier: a few unit tests run a real
 * apiserver from it and skip without it, and on a cold machine the namespace tier would build it
 * only after them. Without Go (no setup) it says so and those tests skip.
 */
async function prebuildKube(): Promise<void> {
  try {
    await buildKube();
  } catch (e) {
    console.log(`test: unit: no kube binary (${(e as Error).message}); its tests skip`);
  }
}

async function main() {
  const [which = "all", ...rest] = Deno.args;
  const extra = rest[0] === "--" ? rest.slice(1) : rest;
  const tiers = which === "all" ? ["gates", "unit", "ns", "vm"] : [which];
  const total = emptyTally();
  const lines: string[] = [];
  for (const tier of tiers) {
    console.log(`test: ${tier}: starting`);
    let t: Tally;
    switch (tier) {
      case "gates":
        t = await gates();
        break;
      case "unit":
        await prebuildKube();
        t = await denoTest(
          tier,
          await findFiles(
            ROOT,
            (f) => f.endsWith("_test.ts") && !/^e2e\/suites\/.*_(ns|vm)_test\.ts$/.test(f),
          ),
          extra,
        );
        break;
      case "ns":
      case "vm": {
        const files = await findFiles(
          `${ROOT}/e2e`,
          (f) => f.startsWith("e2e/suites/") && f.endsWith(`_${tier}_test.ts`),
        );
        if (!isRoot()) {
          console.log(`test: ${tier}: skipped ${files.length} files: needs root`);
          t = { ...emptyTally(), skipped: files.length };
        } else {
          t = await denoTest(tier, files, extra);
        }
        break;
      }
      default:
        console.error(`error: unknown tier '${tier}' (want all, gates, unit, ns or vm)`);
        Deno.exit(2);
    }
    lines.push(`test: ${tier}: ${t.passed} ok, ${t.failed} failed, ${t.skipped} skipped`);
    console.log(lines[lines.length - 1]);
    total.passed += t.passed;
    total.failed += t.failed;
    total.skipped += t.skipped;
    total.failures.push(...t.failures.map((f) => `${tier}: ${f}`));
  }
  // Failed tests are named again at the very end: CI keeps only the tail of a long log.
  for (const f of total.failures) console.log(`FAILED ${f}`);
  for (const l of lines) console.log(l);
  console.log(
    `${total.passed} passed, ${total.failed} failed` +
      (total.skipped ? `, ${total.skipped} skipped` : ""),
  );
  Deno.exit(total.failed === 0 && total.passed > 0 ? 0 : 1);
}

if (import.meta.main) await main();
