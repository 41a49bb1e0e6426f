/**
 * The agent's static import graph stays free of what only ConsensusMembers need (etcd3, the
 * curator's CEL runtime, @peculiar/x509 for issuing with a CA) or only an update or the installer
 * needs (zod, for the OS image schemas): those load through dynamic imports when the role arrives,
 * the node bootstraps or the update runs, so a node without roles does not carry them (agent RSS,
 * testing.md §5 `rss`).
 */
import assert from "node:assert/strict";

Deno.test("agent static imports exclude etcd3, @bufbuild/cel, @peculiar/x509 and zod", async () => {
  const main = new URL("./main.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", main],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier?: string }; isDynamic?: boolean }[];
    }[];
  };
  const deps = new Map(info.modules.map((m) => [
    m.specifier,
    (m.dependencies ?? []).filter((d) => !d.isDynamic && d.code?.specifier).map((d) =>
      d.code!.specifier!
    ),
  ]));
  const seen = new Set(info.roots);
  const queue = [...info.roots];
  while (queue.length) {
    for (const d of deps.get(queue.pop()!) ?? []) {
      if (seen.has(d)) continue;
      seen.add(d);
      queue.push(d);
    }
  }
  const npm = [...seen].filter((s) => s.startsWith("npm:"));
  assert.ok(npm.some((s) => s.includes("@grpc/grpc-js")), "graph walk found the npm imports");
  for (const heavy of ["etcd3", "@bufbuild/cel", "@peculiar/x509", "zod"]) {
    assert.deepEqual(npm.filter((s) => s.includes(heavy)), [], `${heavy} imported statically`);
  }
});
