/** Tier-1 test (root) of mountAll in a private mount namespace. */
import assert from "node:assert/strict";

Deno.test("platform mounts: mountAll creates mount points, skips, and fails with a SysError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mk-pid1-mounts-" });
  try {
    const helper = new URL("./testdata/mount_helper.ts", import.meta.url).pathname;
    const root = new URL("../../../deno.json", import.meta.url).pathname;
    const out = await new Deno.Command("unshare", {
      args: [
        "--mount",
        "--propagation",
        "private",
        "--",
        Deno.execPath(),
        "run",
        "-A",
        `--config=${root}`,
        helper,
        dir,
      ],
      stdin: "null",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(r.lines, [
      "created mount point <dir>/a/b",
      "mounted tmpfs at <dir>/a/b",
      "tmpfs already mounted at <dir>/a/b",
      "skipping tmpfs at <dir>/efi: no <dir>/no-such-thing",
      "created mount point <dir>/c",
    ]);
    assert.deepEqual(r.mounts, [["<dir>/a/b", "tmpfs"]]);
    assert.equal(r.error, 'mount("<dir>/c"): ENODEV: No such device');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
