import assert from "node:assert/strict";
import { fileMappings, rssFileKb } from "./pageout.ts";

const MAPS = `55d0c0000000-55d0c1ba0000 r--p 00000000 fd:01 131 /srv/a b/deno
55d0c1ba0000-55d0c5850000 r-xp 01ba0000 fd:01 131 /srv/a b/deno
55d0c5850000-55d0c5a00000 rw-p 05850000 fd:01 131 /srv/a b/deno
55d0c5a00000-55d0c5a10000 r--p 05a00000 fd:01 131 /srv/a b/deno.old
7f0000000000-7f0000021000 rw-p 00000000 00:00 0
7f1000000000-7f1000028000 r-xp 00000000 fd:01 77 /usr/lib/x86_64-linux-gnu/libc.so.6
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]`;

Deno.test("fileMappings: the file's code and read-only data, not its writable pages or other files", () => {
  assert.deepEqual(fileMappings(MAPS, "/srv/a b/deno"), [
    { start: 0x55d0c0000000n, end: 0x55d0c1ba0000n, perms: "r--p" },
    { start: 0x55d0c1ba0000n, end: 0x55d0c5850000n, perms: "r-xp" },
  ]);
  assert.deepEqual(fileMappings(MAPS, "/nowhere"), []);
});

Deno.test("rssFileKb: reads RssFile from a status text", () => {
  assert.equal(
    rssFileKb("VmRSS:\t  65200 kB\nRssAnon:\t   21600 kB\nRssFile:\t   43700 kB\n"),
    43700,
  );
  assert.ok(Number.isNaN(rssFileKb("VmRSS:\t1 kB\n")));
});

Deno.test("pageOutRuntime: a runtime whose executable is its own gives its cold code back", async () => {
  // A private copy, as a node's runtime is: pages another process maps are not reclaimed.
  const dir = await Deno.makeTempDir({ prefix: "metropolis-pageout-" });
  try {
    const exe = `${dir}/deno`;
    await Deno.copyFile(Deno.execPath(), exe);
    await Deno.chmod(exe, 0o755);
    const script = new URL("./testdata/pageout_probe.ts", import.meta.url).pathname;
    const out = await new Deno.Command(exe, {
      args: ["run", "-A", "--quiet", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(r.error, undefined);
    assert.ok(r.advised > 10 * 2 ** 20, `advised ${r.advised} bytes`);
    // Starting Deno alone touches ≈ 20 MB of its executable; most of it is cold afterwards.
    assert.ok(
      r.rssFileAfterKb < r.rssFileBeforeKb - 5_000,
      `RssFile ${r.rssFileBeforeKb} → ${r.rssFileAfterKb} kB`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
