import assert from "node:assert/strict";
import { manifestUuid, parseLayout, stage, type StagedEntry } from "./stage.ts";
import { parseLdd } from "./ldd.ts";

Deno.test("layout.json parses and lists no shell or remote-login tool", async () => {
  const layout = parseLayout(
    await Deno.readTextFile(new URL("../rootfs/layout.json", import.meta.url)),
  );
  const paths = layout.map((e) => e.path);
  assert.ok(paths.includes("/init") && paths.includes("/agent/deno"));
  for (const p of paths) assert.doesNotMatch(p, /(^|\/)(sh|bash|busybox|ssh|sshd|apt|dpkg)$/);
});

Deno.test("parseLayout rejects bad entries with the path named", () => {
  const bad = (e: unknown) => JSON.stringify({ entries: [e] });
  assert.throws(() => parseLayout(bad({ path: "x", source: "dir", mode: "0755" })), /bad path/);
  assert.throws(
    () => parseLayout(bad({ path: "/x", source: "http:y", mode: "0755" })),
    /\/x: bad source/,
  );
  assert.throws(() => parseLayout(bad({ path: "/x", source: "dir", mode: "9" })), /bad mode/);
});

Deno.test("manifestUuid is order-independent and content-sensitive", () => {
  const a: StagedEntry = { path: "/a", kind: "file", mode: 0o644, sha256: "00", source: "" };
  const b: StagedEntry = { path: "/b", kind: "dir", mode: 0o755, sha256: "", source: "" };
  const u = manifestUuid([a, b]);
  assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(manifestUuid([b, a]), u);
  assert.notEqual(manifestUuid([{ ...a, sha256: "01" }, b]), u);
  assert.notEqual(manifestUuid([{ ...a, mode: 0o755 }, b]), u);
});

Deno.test("parseLdd maps libraries to /lib/x86_64-linux-gnu and keeps the loader", () => {
  const m = parseLdd(
    "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n" +
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n",
  );
  assert.deepEqual([...m], [
    ["/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"],
    ["/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"],
  ]);
  assert.throws(() => parseLdd("\tlibfoo.so.1 => not found\n"), /missing library/);
});

Deno.test("stage copies files with fixed modes and adds the ldd closure of ELFs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mkimg-stage-" });
  try {
    const s = await stage(
      [
        { path: "/bin/true", source: "build:true", mode: "0755" },
        { path: "/etc/x", source: "build:x", mode: "0600" },
        { path: "/etc/l", source: "symlink:/ephemeral/l", mode: "0777" },
        { path: "/proc", source: "dir", mode: "0555" },
      ],
      { true: "/usr/bin/true", x: new TextEncoder().encode("x\n") },
      "/nonexistent",
      `${dir}/t`,
    );
    const byPath = new Map(s.entries.map((e) => [e.path, e]));
    assert.equal(byPath.get("/etc/x")?.mode, 0o600);
    assert.equal((await Deno.stat(`${dir}/t/etc/x`)).mode! & 0o7777, 0o600);
    assert.equal(await Deno.readLink(`${dir}/t/etc/l`), "/ephemeral/l");
    assert.equal(byPath.get("/lib/x86_64-linux-gnu/libc.so.6")?.kind, "file");
    assert.equal(byPath.get("/lib64/ld-linux-x86-64.so.2")?.kind, "file");
    assert.equal((await Deno.stat(`${dir}/t/proc`)).mode! & 0o7777, 0o555);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
