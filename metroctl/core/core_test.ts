/** Tier 1: the pure parts of metroctl: flag parsing, table/YAML output, version and role names. */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { VersionSchema } from "../../proto/gen/version/spec/spec_pb.ts";
import { ROOT } from "../main.ts";
import { parseRole } from "../cmd/node.ts";
import { helpText, parseArgs } from "./args.ts";
import { failure, UsageError } from "./errors.ts";
import { formatTable, formatYaml } from "./output.ts";
import { formatVersion } from "./nodes.ts";
import { parseImageRef } from "../cmd/node_update.ts";
import { runMetroctl } from "../testing.ts";

Deno.test("flags: forms, lists, defaults, errors", () => {
  const p = parseArgs(ROOT, [
    "--endpoints=a",
    "node",
    "--endpoints",
    "b,c",
    "describe",
    "-o",
    "json",
    "x",
    "--",
    "--not-a-flag",
  ]);
  assert.deepEqual(p.path.map((c) => c.name), ["metroctl", "node", "describe"]);
  assert.deepEqual(p.flags.endpoints, ["a", "b", "c"]);
  assert.equal(p.flags.output, "json");
  assert.equal(p.flags.format, "plaintext");
  assert.equal(p.flags.verbose, false);
  assert.deepEqual(p.args, ["x", "--not-a-flag"]);
  const e = (argv: string[]) => {
    try {
      parseArgs(ROOT, argv);
    } catch (err) {
      assert.ok(err instanceof UsageError);
      return failure(err);
    }
    assert.fail(`no error for ${argv.join(" ")}`);
  };
  assert.deepEqual(e(["node", "describe", "--colums", "x"]), {
    line: "metroctl: unknown flag --colums (see 'metroctl node describe --help')",
    code: 2,
  });
  assert.match(e(["nodes"]).line, /unknown command "nodes" for "metroctl"/);
  assert.match(e(["node", "logs"]).line, /wrong number of arguments: want 1, got 0/);
  assert.match(e(["--format", "xml", "version"]).line, /invalid value "xml" for --format/);
  assert.match(e(["node", "logs", "x", "--backlog", "-5"]).line, /must be -1 or more/);
  assert.match(e(["node"]).line, /"node" needs a subcommand/);
  assert.equal(parseArgs(ROOT, ["node", "logs", "x", "-f", "-c"]).flags.follow, true);
  assert.equal(parseArgs(ROOT, ["node", "--help"]).help, true);
});

Deno.test("help lists subcommands and flags", () => {
  const node = parseArgs(ROOT, ["node", "--help"]).path;
  const h = helpText(node);
  for (const c of ["describe", "list", "add", "remove", "logs", "delete", "reboot", "poweroff"]) {
    assert.match(h, new RegExp(`\\n  ${c} `));
  }
  assert.match(h, /--endpoints strings/);
  assert.doesNotMatch(helpText([ROOT]), /k8scredplugin/);
});

Deno.test("table: union of keys, upper-case header, width + 3 padding", () => {
  const t = formatTable([{ a: "x", bb: "yyyy" }, { a: "long", c: "z" }]);
  assert.equal(t, "A      BB     C   \nx      yyyy       \nlong          z   \n");
});

Deno.test("yaml: block style with quoted scalars where needed", () => {
  assert.equal(formatYaml(["a", "b c"]), '- a\n- "b c"\n');
  assert.equal(
    formatYaml([{ id: "n1", roles: { x: {} }, list: [], n: "3s", t: "true" }]),
    '- id: n1\n  roles:\n    x: {}\n  list: []\n  "n": "3s"\n  t: "true"\n',
  );
});

Deno.test("version formatting", () => {
  const v = (o: Parameters<typeof create<typeof VersionSchema>>[1]) =>
    formatVersion(create(VersionSchema, o));
  assert.equal(v({ release: { major: 1n, minor: 2n, patch: 3n } }), "1.2.3-nostamp");
  assert.equal(
    v({ release: { minor: 1n }, gitInformation: { commitHash: "1a2b3c4d5e", buildTreeState: 1 } }),
    "0.1.0-g1a2b3c4d",
  );
  assert.equal(
    v({ gitInformation: { commitHash: "abc", commitsSinceRelease: 4n, buildTreeState: 2 } }),
    "0.0.0-dev4.gabc.dirty",
  );
});

Deno.test("role names: long, short, case-insensitive", () => {
  assert.equal(parseRole("kw", "x"), "KubernetesWorker");
  assert.equal(parseRole("KUBERNETESCONTROLLER", "x"), "KubernetesController");
  assert.equal(parseRole("Cm", "x"), "ConsensusMember");
  assert.throws(() => parseRole("gardener", "x"), /unknown role: gardener/);
});

Deno.test("image references", () => {
  const d = `sha256:${"0f".repeat(32)}`;
  assert.deepEqual(parseImageRef(`http://reg:5000/a/b:v1@${d}`), {
    scheme: "http",
    host: "reg:5000",
    repository: "a/b",
    tag: "v1",
    digest: d,
  });
  assert.equal(parseImageRef(`reg/a@${d}`).scheme, "https");
  assert.throws(() => parseImageRef(`a@${d}`), /missing host/);
  assert.throws(() => parseImageRef("reg/a:v1"), /missing digest/);
  assert.throws(() => parseImageRef(`reg/A_@${d}`), /invalid repository "A_"/);
  assert.throws(() => parseImageRef(`reg/a:.x@${d}`), /invalid tag ".x"/);
  assert.throws(() => parseImageRef("reg/a@sha256:12"), /invalid digest/);
});

Deno.test("completion scripts: valid bash, commands, flags and roles", async () => {
  for (const shell of ["bash", "zsh", "fish"]) {
    const r = await runMetroctl(["completion", shell]);
    assert.equal(r.code, 0, r.stderr);
    for (const w of ["takeownership", "describe", "--filter", "KubernetesWorker", "--endpoints"]) {
      assert.ok(
        r.stdout.includes(shell === "fish" ? w.replace(/^--/, "-l ") : w),
        `${shell}: ${w}`,
      );
    }
    if (shell === "bash") {
      const check = await new Deno.Command("bash", { args: ["-n", "-c", r.stdout] }).output();
      assert.ok(check.success, new TextDecoder().decode(check.stderr));
      // Completing `metroctl node ` offers the node subcommands.
      const probe =
        `${r.stdout}\nCOMP_WORDS=(metroctl node ''); COMP_CWORD=2; _metroctl; echo "\${COMPREPLY[@]}"`;
      const out = await new Deno.Command("bash", { args: ["-c", probe], stdout: "piped" }).output();
      assert.match(new TextDecoder().decode(out.stdout), /describe.*list.*logs/);
    }
  }
  const bad = await runMetroctl(["completion", "tcsh"]);
  assert.equal(bad.code, 2);
});
