/**
 * `proto/generate.ts` end to end on a copy of proto/gen/: `--check` passes on the checked-in code,
 * fails with one line naming a changed file and an extra file, and a normal run repairs both.
 */
import assert from "node:assert/strict";

const PROTO_DIR = new URL(".", import.meta.url).pathname.replace(/\/$/, "");

async function generate(args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${PROTO_DIR}/generate.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

async function copyDir(src: string, dst: string) {
  await Deno.mkdir(dst, { recursive: true });
  for await (const e of Deno.readDir(src)) {
    if (e.isDirectory) await copyDir(`${src}/${e.name}`, `${dst}/${e.name}`);
    else await Deno.copyFile(`${src}/${e.name}`, `${dst}/${e.name}`);
  }
}

Deno.test("generate.ts --check detects stale and extra files; a normal run repairs them", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "metropolis-proto-gentest-" });
  try {
    const gen = `${tmp}/gen`;
    await copyDir(`${PROTO_DIR}/gen`, gen);

    const clean = await generate(["--check", `--gen-dir=${gen}`]);
    assert.equal(clean.code, 0, clean.err);
    assert.match(clean.out, /proto: compiling 15 \.proto files/);
    assert.match(clean.out, /is up to date/);

    const changed = `${gen}/version/spec/spec_pb.ts`;
    await Deno.writeTextFile(changed, "// edited by hand\n", { append: true });
    await Deno.writeTextFile(`${gen}/stray_pb.ts`, "export {};\n");
    const stale = await generate(["--check", `--gen-dir=${gen}`]);
    assert.equal(stale.code, 1);
    const lines = stale.err.trim().split("\n");
    assert.equal(lines.length, 1, stale.err);
    assert.match(lines[0], /version\/spec\/spec_pb\.ts/);
    assert.match(lines[0], /stray_pb\.ts/);
    assert.match(lines[0], /deno task proto/);

    const fix = await generate([`--gen-dir=${gen}`]);
    assert.equal(fix.code, 0, fix.err);
    assert.match(fix.out, /wrote .*version\/spec\/spec_pb\.ts/);
    assert.match(fix.out, /removed .*stray_pb\.ts/);
    assert.equal((await generate(["--check", `--gen-dir=${gen}`])).code, 0);
    assert.equal(
      await Deno.readTextFile(changed),
      await Deno.readTextFile(`${PROTO_DIR}/gen/version/spec/spec_pb.ts`),
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("generate.ts rejects unknown arguments with one line", async () => {
  const r = await generate(["--bogus"]);
  assert.equal(r.code, 1);
  assert.match(r.err.trim(), /^proto: error: unknown argument --bogus/);
});
