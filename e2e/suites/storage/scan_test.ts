import assert from "node:assert/strict";
import { dataExtents, findInImage } from "./scan.ts";

Deno.test("findInImage: every occurrence in the data extents of a sparse image, none in holes", async () => {
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "scan-test-" });
  try {
    const path = `${dir}/disk.img`;
    const needle = new TextEncoder().encode("marker-0123456789");
    const f = await Deno.open(path, { write: true, create: true });
    await f.truncate(1024 * 1024 * 1024); // 1 GiB, almost all hole
    // At the start, across the 8 MiB chunk boundary of a large extent, and far out.
    const at = [4096, 64 * 1024 * 1024 + 8 * 1024 * 1024 - 5, 900 * 1024 * 1024 + 17];
    await f.seek(64 * 1024 * 1024, Deno.SeekMode.Start);
    await f.write(new Uint8Array(16 * 1024 * 1024).fill(0x61));
    for (const o of at) {
      await f.seek(o, Deno.SeekMode.Start);
      await f.write(needle);
    }
    f.close();
    const extents = dataExtents(path);
    const bytes = extents.reduce((n, [a, b]) => n + b - a, 0);
    assert.ok(bytes < 64 * 1024 * 1024, `only data extents are read (${bytes} bytes)`);
    assert.deepEqual(await findInImage(path, needle), at);
    assert.deepEqual(await findInImage(path, new TextEncoder().encode("absent-marker")), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
