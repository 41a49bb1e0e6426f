/**
 * Tier-1 tests of the loop helpers: struct layouts and superblock detection (pure), and (root) a
 * real attach with autoclear that is gone once released.
 */
import assert from "node:assert/strict";
import { attachLoop, encodeLoopConfig, hasXfsSuperblock, LOOP, LOOP_CONFIG_SIZE } from "./loop.ts";
import { dataImagePath, dataSource, isXfs } from "./storage.ts";

Deno.test("loop: struct loop_config layout", () => {
  assert.equal(LOOP_CONFIG_SIZE, 304);
  const b = encodeLoopConfig(7, LOOP.FLAGS_AUTOCLEAR, "/s/data.img");
  const v = new DataView(b.buffer);
  assert.equal(b.length, 304);
  assert.equal(v.getUint32(0, true), 7, "fd");
  assert.equal(v.getUint32(4, true), 0, "block_size: kernel default");
  assert.equal(v.getUint32(8 + 52, true), 4, "info.lo_flags = LO_FLAGS_AUTOCLEAR");
  assert.equal(new TextDecoder().decode(b.subarray(8 + 56, 8 + 56 + 11)), "/s/data.img");
  assert.equal(b[8 + 56 + 11], 0);
  // lo_file_name is 64 bytes: long names are cut and stay NUL-terminated.
  const long = encodeLoopConfig(1, 0, "x".repeat(100));
  assert.equal(long[8 + 56 + 62], 0x78);
  assert.equal(long[8 + 56 + 63], 0);
});

Deno.test("loop: XFS superblock detection and the data source of a state directory", () => {
  assert.ok(hasXfsSuperblock(new TextEncoder().encode("XFSB\0\0")));
  assert.ok(!hasXfsSuperblock(new Uint8Array(512)));
  assert.ok(!hasXfsSuperblock(new TextEncoder().encode("XFS")));
  const dir = Deno.makeTempDirSync({ prefix: "mk-loop-src-" });
  try {
    assert.deepEqual(dataSource(dir), { kind: "dir", path: `${dir}/data` });
    Deno.writeFileSync(dataImagePath(dir), new Uint8Array(4096));
    assert.deepEqual(dataSource(dir), { kind: "loop", image: `${dir}/data.img` });
    assert.equal(isXfs(dataImagePath(dir)), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "loop: attach with autoclear, detached once released (root)",
  ignore: Deno.uid() !== 0,
  async fn() {
    const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "mk-loop-" });
    const img = `${dir}/data.img`;
    try {
      const f = Deno.openSync(img, { create: true, write: true });
      f.truncateSync(16 * 1024 * 1024);
      f.close();
      const dev = attachLoop(img);
      const sys = `/sys/block/loop${dev.number}/loop`;
      try {
        assert.match(dev.path, /^\/dev\/loop\d+$/);
        assert.equal(Deno.readTextFileSync(`${sys}/backing_file`).trim(), img);
        assert.equal(Deno.readTextFileSync(`${sys}/autoclear`).trim(), "1");
      } finally {
        dev.release();
      }
      // Autoclear: the last close detached it (the kernel may take a moment).
      let gone = false;
      for (let i = 0; i < 50 && !gone; i++) {
        // sysfs drops the device's loop/ directory when it is detached.
        gone = !(await Deno.stat(sys).then(() => true, () => false)) ||
          Deno.readTextFileSync(`/sys/block/loop${dev.number}/size`).trim() === "0";
        if (!gone) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(gone, `loop${dev.number} still attached after release`);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
