/**
 * Checks the generated descriptors against the wire specification in shared/spec/wire/, parsed at
 * test time so that the spec stays the source of truth: the method table of README.md (paths,
 * streaming kinds, authorization options) and, per package, every file's imports, every message's
 * fields (number, name, type, label, oneof), reserved numbers, and every enum value.
 *
 * The spec directory is `$METROPOLIS_SPEC_DIR` or `<repo>/../shared/spec`.
 */
import assert from "node:assert/strict";
import type { DescEnum, DescMessage } from "@bufbuild/protobuf";
import { PermissionSchema } from "./gen/metropolis/proto/ext/authorization_pb.ts";
import { authorizationOf, methodPath, OUR_FILES, registry, SERVICES } from "./registry.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const SPEC = Deno.env.get("METROPOLIS_SPEC_DIR") ?? `${REPO}/../shared/spec`;
const WIRE = `${SPEC}/wire`;

async function readSpec(name: string): Promise<string> {
  try {
    return await Deno.readTextFile(`${WIRE}/${name}`);
  } catch (e) {
    throw new Error(`cannot read the wire spec ${WIRE}/${name} (set METROPOLIS_SPEC_DIR): ${e}`);
  }
}

/** One row of README.md's "gRPC services and methods on the wire" table. */
interface SpecMethod {
  path: string;
  streaming: string;
  authorization: string;
}

async function specMethods(): Promise<SpecMethod[]> {
  const text = await readSpec("README.md");
  const rows = [...text.matchAll(/^\| `(\/[^`]+)` \| ([a-z-]+) \| [^|]+ \| ([^|]+) \|$/gm)];
  return rows.map((m) => ({ path: m[1], streaming: m[2], authorization: m[3].trim() }));
}

const KIND_OF: Record<string, string> = {
  "unary": "unary",
  "server-streaming": "server_streaming",
  "client-streaming": "client_streaming",
  "bidi-streaming": "bidi_streaming",
};

Deno.test("method table: every path and streaming kind of README.md, nothing else", async () => {
  const spec = await specMethods();
  assert.equal(spec.length, 28, "README.md lists 28 RPCs");
  const ours = [...SERVICES.values()].flatMap((s) =>
    s.methods.map((m) => ({ path: methodPath(m), kind: m.methodKind }))
  );
  assert.equal(SERVICES.size, 6);
  assert.equal(new Set(spec.map((m) => m.path.split("/")[1])).size, 6, "6 services in the spec");
  assert.deepStrictEqual(
    ours.map((m) => `${m.path} ${m.kind}`).sort(),
    spec.map((m) => `${m.path} ${KIND_OF[m.streaming] ?? `unknown:${m.streaming}`}`).sort(),
  );
});

/** Decodes the spec's authorization column into the shape `authorizationOf` returns. */
function expectedAuthorization(col: string) {
  if (/^PERMISSION_[A-Z_]+$/.test(col)) {
    const v = PermissionSchema.values.find((v) => v.name === col);
    assert.ok(v, `spec names unknown permission ${col}`);
    return { need: [v.number], allowUnauthenticated: false };
  }
  if (col === "allow_unauthenticated") return { need: [], allowUnauthenticated: true };
  if (col.startsWith("option present, empty")) return { need: [], allowUnauthenticated: false };
  if (col.startsWith("none")) return undefined;
  throw new Error(`cannot interpret authorization column "${col}"`);
}

Deno.test("method table: authorization option of every method equals README.md", async () => {
  for (const m of await specMethods()) {
    const got = authorizationOf(m.path);
    const want = expectedAuthorization(m.authorization);
    assert.deepStrictEqual(
      got === undefined
        ? undefined
        : { need: [...got.need], allowUnauthenticated: got.allowUnauthenticated },
      want,
      `${m.path}: spec says "${m.authorization}"`,
    );
  }
  assert.equal(authorizationOf("/metropolis.proto.api.Management/NoSuchMethod"), undefined);
});

/** What a package spec file says about one .proto file. */
interface SpecFile {
  path: string;
  pkg: string;
  imports: string[];
  messages: Map<string, { fields: string[]; reserved: number[] }>;
  enums: Map<string, string[]>;
}

/** Parses one per-package spec file (e.g. metropolis.proto.api.md). */
function parsePackageSpec(text: string): SpecFile[] {
  const files: SpecFile[] = [];
  let file: SpecFile | undefined;
  let msg: { fields: string[]; reserved: number[] } | undefined;
  let en: string[] | undefined;
  let inImports = false;
  for (const line of text.split("\n")) {
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^## File `([^`]+)`/))) {
      file = { path: m[1], pkg: "", imports: [], messages: new Map(), enums: new Map() };
      files.push(file);
      msg = en = undefined;
      continue;
    }
    if (!file) continue;
    if ((m = line.match(/^- package: `([^`]+)`/))) file.pkg = m[1];
    if (line.startsWith("- imports (exact import paths):")) {
      inImports = true;
      continue;
    }
    if (inImports) {
      if ((m = line.match(/^ {2}- `([^`]+)`/))) file.imports.push(m[1]);
      else inImports = false;
    }
    if ((m = line.match(/^#### enum `([^`]+)`/))) {
      en = [];
      file.enums.set(m[1], en);
      msg = undefined;
    } else if ((m = line.match(/^#### `([^`]+)`/))) {
      msg = { fields: [], reserved: [] };
      file.messages.set(m[1], msg);
      en = undefined;
    } else if (line.startsWith("### ") || line.startsWith("#### ")) {
      msg = en = undefined;
    }
    if (
      msg &&
      (m = line.match(
        /^\| (\d+) \| `([^`]+)` \| `([^`]+)` \| (singular|optional|repeated) \| (?:`([^`]*)`)? *\|/,
      ))
    ) {
      msg.fields.push(`${m[1]} ${m[2]} ${m[3]} ${m[4]} ${m[5] ?? "-"}`);
    }
    if (msg && (m = line.match(/^Reserved: numbers ([\d, ]+)/))) {
      msg.reserved = m[1].split(",").map((s) => Number(s.trim()));
    }
    if (en && (m = line.match(/^\| (\d+) \| `([A-Z0-9_]+)` \|/))) en.push(`${m[1]} ${m[2]}`);
  }
  return files;
}

const SCALAR: Record<number, string> = {
  1: "double",
  2: "float",
  3: "int64",
  4: "uint64",
  5: "int32",
  6: "fixed64",
  7: "fixed32",
  8: "bool",
  9: "string",
  12: "bytes",
  13: "uint32",
  15: "sfixed32",
  16: "sfixed64",
  17: "sint32",
  18: "sint64",
};

/** Our fields of a message in the spec's notation: `number name type label oneof`. */
function ourFields(d: DescMessage): string[] {
  return d.fields.map((f) => {
    let type: string;
    switch (f.fieldKind) {
      case "scalar":
        type = SCALAR[f.scalar];
        break;
      case "enum":
        type = f.enum.typeName;
        break;
      case "message":
        type = f.message.typeName;
        break;
      case "list":
        type = f.listKind === "scalar"
          ? SCALAR[f.scalar]
          : f.listKind === "enum"
          ? f.enum.typeName
          : f.message.typeName;
        break;
      case "map":
        type = "map";
        break;
    }
    const label = f.fieldKind === "list"
      ? "repeated"
      : f.proto.proto3Optional
      ? "optional"
      : "singular";
    return `${f.number} ${f.name} ${type} ${label} ${f.oneof?.name ?? "-"}`;
  }).sort((a, b) => parseInt(a) - parseInt(b));
}

function allMessages(msgs: readonly DescMessage[]): DescMessage[] {
  return msgs.flatMap((m) => [m, ...allMessages(m.nestedMessages)]);
}

function allEnums(file: { enums: readonly DescEnum[]; messages: readonly DescMessage[] }) {
  return [...file.enums, ...allMessages(file.messages).flatMap((m) => m.nestedEnums)];
}

const PACKAGE_SPECS = [
  "metropolis.proto.api.md",
  "metropolis.proto.common.md",
  "metropolis.proto.ext.md",
  "metropolis.node.core.curator.proto.api.md",
  "osbase.logtree.proto.md",
  "osbase.net.proto.md",
  "version.spec.md",
];

for (const specName of PACKAGE_SPECS) {
  Deno.test(`package spec ${specName}: files, imports, messages, fields, enums`, async () => {
    const specFiles = parsePackageSpec(await readSpec(specName));
    assert.ok(specFiles.length > 0, `no "## File" sections parsed in ${specName}`);
    for (const sf of specFiles) {
      const ours = OUR_FILES.find((f) => `${f.name}.proto` === sf.path);
      assert.ok(ours, `we have no ${sf.path}`);
      assert.equal(ours.proto.package, sf.pkg, `${sf.path} package`);
      assert.deepStrictEqual([...ours.proto.dependency].sort(), [...sf.imports].sort());

      const msgs = allMessages(ours.messages);
      assert.deepStrictEqual(
        msgs.map((m) => m.typeName).sort(),
        [...sf.messages.keys()].sort(),
        `${sf.path}: message set`,
      );
      for (const [name, want] of sf.messages) {
        const d = registry.getMessage(name);
        assert.ok(d, name);
        assert.deepStrictEqual(ourFields(d), want.fields, `${name}: fields`);
        const reserved = d.proto.reservedRange.flatMap((r) =>
          Array.from({ length: r.end - r.start }, (_, i) => r.start + i)
        );
        assert.deepStrictEqual(reserved, want.reserved, `${name}: reserved numbers`);
      }

      assert.deepStrictEqual(
        allEnums(ours).map((e) => e.typeName).sort(),
        [...sf.enums.keys()].sort(),
        `${sf.path}: enum set`,
      );
      for (const [name, want] of sf.enums) {
        const e = registry.getEnum(name);
        assert.ok(e, name);
        assert.deepStrictEqual(e.values.map((v) => `${v.number} ${v.name}`), want, name);
      }
    }
  });
}

Deno.test("extension: metropolis.proto.ext.authorization is field 1000 of MethodOptions", () => {
  const ext = registry.getExtension("metropolis.proto.ext.authorization");
  assert.ok(ext);
  assert.equal(ext.number, 1000);
  assert.equal(ext.extendee.typeName, "google.protobuf.MethodOptions");
  assert.equal(ext.message?.typeName, "metropolis.proto.ext.Authorization");
});

Deno.test("spec totals: 116 messages and 24 enums in the public files", () => {
  const pub = OUR_FILES.filter((f) => !f.name.includes("/private/"));
  assert.equal(pub.flatMap((f) => allMessages(f.messages)).length, 116);
  assert.equal(pub.flatMap((f) => allEnums(f)).length, 24);
});
