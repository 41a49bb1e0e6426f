import assert from "node:assert/strict";
import { mount, umount } from "../../base/sys/mount.ts";
import { MAX_HOLDERS, mountHolders } from "./holders.ts";

Deno.test("mountHolders names this process's open file below the target, nothing outside it", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  const other = await Deno.realPath(await Deno.makeTempDir());
  try {
    using _f = await Deno.open(`${dir}/held`, { write: true, create: true });
    using _g = await Deno.open(`${other}/elsewhere`, { write: true, create: true });
    const h = mountHolders(dir);
    assert.ok(
      h.some((l) => new RegExp(`^pid ${Deno.pid} \\(\\S+\\) fd \\d+: ${dir}/held$`).test(l)),
      h.join(" | "),
    );
    assert.ok(!h.some((l) => l.includes(other)), h.join(" | "));
    // A sibling whose name starts with the target's is not below it.
    assert.deepEqual(mountHolders(`${dir}/hel`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(other, { recursive: true });
  }
});

Deno.test("mountHolders stops at MAX_HOLDERS", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  const files: Deno.FsFile[] = [];
  try {
    for (let i = 0; i < MAX_HOLDERS + 3; i++) {
      files.push(await Deno.open(`${dir}/f${i}`, { write: true, create: true }));
    }
    assert.equal(mountHolders(dir).length, MAX_HOLDERS);
  } finally {
    for (const f of files) f.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mountHolders names a mount below the target (space in its path unescaped), not the target itself", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  const sub = `${dir}/a sub`;
  await Deno.mkdir(sub);
  mount("tmpfs", sub, "tmpfs");
  try {
    assert.deepEqual(mountHolders(dir), [`mount ${sub}`]);
    assert.deepEqual(mountHolders(sub), []);
  } finally {
    umount(sub);
    await Deno.remove(dir, { recursive: true });
  }
});
