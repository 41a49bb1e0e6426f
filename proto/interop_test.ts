/**
 * Independent-toolchain checks with Debian's Python packages (installed by .ci/setup):
 * - python3-grpc-tools (its own bundled compiler, libprotoc 3.5.1) compiles every .proto of ours
 *   to Python messages and gRPC stubs, and the stubs carry exactly our method paths;
 * - python3-protobuf 4.21 (the upb/C++ runtime, not protobuf-es) decodes the bytes protobuf-es
 *   encodes for every sample, prints the same proto3 JSON, and its re-encoding decodes back to an
 *   equal message in TypeScript.
 *
 * The Python 3 used is /usr/bin/python3 (the Debian one that has these modules), not whatever
 * `python3` is first on PATH.
 */
import assert from "node:assert/strict";
import { equals, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { SAMPLES } from "./samples.ts";
import { methodPath, registry, SERVICES } from "./registry.ts";

const PY = "/usr/bin/python3";
const PROTO_DIR = new URL(".", import.meta.url).pathname.replace(/\/$/, "");

async function run(cmd: string, args: string[], stdin?: string) {
  const p = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const r = await p.output();
  const dec = new TextDecoder();
  return { ok: r.success, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

const hasGrpcTools = (() => {
  try {
    return new Deno.Command(PY, { args: ["-c", "import grpc_tools.protoc, google.protobuf"] })
      .outputSync().success;
  } catch {
    return false;
  }
})();

async function protoSources(): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string) {
    for await (const e of Deno.readDir(`${PROTO_DIR}/${rel}`)) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory && r !== "gen") await walk(r);
      else if (e.isFile && e.name.endsWith(".proto")) out.push(r);
    }
  }
  await walk("");
  return out.sort();
}

Deno.test({
  name: "python grpc_tools compiles every .proto; its stubs carry exactly our method paths",
  ignore: !hasGrpcTools,
  async fn() {
    const sources = await protoSources();
    // 13 Metropolis files + the vendored CSI and kubelet plugin-registration APIs.
    assert.equal(sources.length, 15);
    const tmp = await Deno.makeTempDir({ prefix: "metropolis-proto-py-" });
    try {
      // libprotoc 3.5.1 predates proto3 `optional` (protoc 3.15): for this compiler only, the
      // three optional labels (all in management.proto) are dropped; everything else is as-is.
      let dropped = 0;
      for (const f of sources) {
        const text = (await Deno.readTextFile(`${PROTO_DIR}/${f}`)).replace(
          /^(\s*)optional\s+/gm,
          (_m, ws) => (dropped++, ws),
        );
        await Deno.mkdir(`${tmp}/in/${f.slice(0, f.lastIndexOf("/"))}`, { recursive: true });
        await Deno.writeTextFile(`${tmp}/in/${f}`, text);
      }
      assert.equal(dropped, 3);
      await Deno.mkdir(`${tmp}/out`);
      const r = await run(PY, [
        "-m",
        "grpc_tools.protoc",
        `-I${tmp}/in`,
        "-I/usr/include",
        `--python_out=${tmp}/out`,
        `--grpc_python_out=${tmp}/out`,
        ...sources,
      ]);
      assert.ok(r.ok, `grpc_tools.protoc failed: ${r.err}`);
      const paths = new Set<string>();
      // Our services only: the vendored third-party APIs are implemented, not defined, by us.
      for (const f of sources.filter((f) => !f.startsWith("third_party/"))) {
        const base = `${tmp}/out/${f.replace(/\.proto$/, "")}`;
        await Deno.stat(`${base}_pb2.py`);
        const stub = await Deno.readTextFile(`${base}_pb2_grpc.py`);
        for (const m of stub.matchAll(/'(\/[\w.]+\/\w+)'/g)) paths.add(m[1]);
      }
      const ours = [...SERVICES.values()].flatMap((s) => s.methods.map(methodPath));
      assert.deepStrictEqual([...paths].sort(), ours.sort());
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

const PY_DECODE = `
import json, sys
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, json_format
fds = descriptor_pb2.FileDescriptorSet.FromString(open(sys.argv[1], "rb").read())
pool = descriptor_pool.DescriptorPool()
for f in fds.file:
    pool.Add(f)
factory = message_factory.MessageFactory(pool)
out = []
for item in json.load(sys.stdin):
    cls = factory.GetPrototype(pool.FindMessageTypeByName(item["type"]))
    m = cls.FromString(bytes.fromhex(item["hex"]))
    out.append({
        "json": json.loads(json_format.MessageToJson(m, preserving_proto_field_name=True)),
        "hex": m.SerializeToString(deterministic=True).hex(),
    })
json.dump(out, sys.stdout)
`;

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));

Deno.test({
  name: "python protobuf runtime decodes our bytes to the same JSON and back",
  ignore: !hasGrpcTools,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "metropolis-proto-py-" });
    try {
      const fds = `${tmp}/all.pb`;
      const c = await run("/usr/bin/protoc", [
        `-I${PROTO_DIR}`,
        "-I/usr/include",
        "--include_imports",
        `--descriptor_set_out=${fds}`,
        ...await protoSources(),
      ]);
      assert.ok(c.ok, c.err);
      const samples = Object.entries(SAMPLES);
      const input = samples.map(([, s]) => ({
        type: s.schema.typeName,
        hex: hex(toBinary(s.schema, s.message)),
      }));
      const r = await run(PY, ["-c", PY_DECODE, fds], JSON.stringify(input));
      assert.ok(r.ok, `python failed: ${r.err}`);
      const results: { json: unknown; hex: string }[] = JSON.parse(r.out);
      assert.equal(results.length, samples.length);
      samples.forEach(([name, { schema, message }], i) => {
        const ours = toJson(schema, message, { useProtoFieldName: true, registry });
        assert.deepStrictEqual(results[i].json, ours, `${name}: JSON differs`);
        const back = fromBinary(schema, unhex(results[i].hex));
        assert.ok(equals(schema, back, message), `${name}: python's encoding decodes differently`);
      });
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
