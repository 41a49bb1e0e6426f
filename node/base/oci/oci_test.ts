import assert from "node:assert/strict";
import { writeTar } from "./tar.ts";
import { buildImage } from "./image.ts";

const enc = new TextEncoder();

async function gnuTarList(data: Uint8Array): Promise<string[]> {
  const p = new Deno.Command("tar", { args: ["-tvf", "-"], stdin: "piped", stdout: "piped" })
    .spawn();
  const w = p.stdin.getWriter();
  await w.write(data);
  await w.close();
  const out = await p.output();
  assert.ok(out.success, "GNU tar must read our archive");
  return new TextDecoder().decode(out.stdout).trim().split("\n");
}

Deno.test("writeTar: GNU tar reads it; parents added, sorted, fixed mtime", async () => {
  const long = "a".repeat(90) + "/" + "b".repeat(90) + "/file";
  const tar = writeTar([
    { path: "z/file", type: "file", data: enc.encode("hello"), mode: 0o755 },
    { path: "bin/sh", type: "symlink", linkTarget: "busybox" },
    { path: long, type: "file", data: new Uint8Array(1000) },
  ]);
  const lines = await gnuTarList(tar);
  const names = lines.map((l) => l.split(/\s+/).slice(5).join(" "));
  assert.deepEqual(names, [
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/",
    `${long.slice(0, 181)}/`,
    long,
    "bin/",
    "bin/sh -> busybox",
    "z/",
    "z/file",
  ]);
  assert.match(lines[6], /^-rwxr-xr-x 0\/0\s+5 1970-01-01 00:00 z\/file$/);
});

Deno.test("writeTar: rejects bad paths and duplicates with a clear message", () => {
  assert.throws(() => writeTar([{ path: "/abs", type: "dir" }]), /bad entry path/);
  assert.throws(() => writeTar([{ path: "a/../b", type: "dir" }]), /bad entry path/);
  assert.throws(
    () => writeTar([{ path: "a", type: "dir" }, { path: "a", type: "dir" }]),
    /duplicate entry a/,
  );
  assert.throws(() => writeTar([{ path: "x".repeat(300), type: "dir" }]), /too long/);
});

Deno.test("buildImage: deterministic OCI layout with both name annotations", async () => {
  const spec = {
    ref: "preseed.metropolis.internal/e2e/test:latest",
    layers: [[{ path: "hello", type: "file" as const, data: enc.encode("hi\n") }]],
    config: { entrypoint: ["/hello"] },
  };
  const a = await buildImage(spec);
  const b = await buildImage(spec);
  assert.deepEqual(a.archive, b.archive);
  const names = (await gnuTarList(a.archive)).map((l) => l.split(/\s+/).at(-1));
  assert.deepEqual(names, [
    "blobs/",
    "blobs/sha256/",
    ...names.slice(2, 5),
    "index.json",
    "oci-layout",
  ]);
  assert.ok(names.includes(`blobs/sha256/${a.manifestDigest.slice(7)}`));
  assert.ok(names.includes(`blobs/sha256/${a.configDigest.slice(7)}`));
  await assert.rejects(() => buildImage({ ...spec, ref: "noTag" }), /bad image reference/);
});
