import assert from "node:assert/strict";
import { DIRECT_IO_ALIGN, readDirect, writeDirect } from "./direct_io.ts";

/** A file on the host's disk filesystem (tmpfs may refuse O_DIRECT on older kernels). */
async function scratch(size: number): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "direct-io-test-" });
  const path = `${dir}/dev.img`;
  const f = await Deno.open(path, { write: true, create: true });
  await f.truncate(size);
  f.close();
  return path;
}

Deno.test("direct I/O: what writeDirect puts at an offset, readDirect and a buffered read see", async () => {
  const path = await scratch(64 * 1024);
  try {
    const data = Uint8Array.from({ length: 2 * DIRECT_IO_ALIGN }, (_, i) => (i * 7) & 0xff);
    writeDirect(path, 3 * DIRECT_IO_ALIGN, data);
    assert.deepEqual(readDirect(path, 3 * DIRECT_IO_ALIGN, data.length), data);
    assert.deepEqual(readDirect(path, 0, DIRECT_IO_ALIGN), new Uint8Array(DIRECT_IO_ALIGN));
    const all = await Deno.readFile(path);
    assert.deepEqual(all.subarray(3 * DIRECT_IO_ALIGN, 5 * DIRECT_IO_ALIGN), data);
  } finally {
    await Deno.remove(path.replace(/\/[^/]*$/, ""), { recursive: true });
  }
});

Deno.test("direct I/O: unaligned ranges are refused before any syscall", () => {
  assert.throws(() => readDirect("/nonexistent", 512, 4096), /offset 512 is not a multiple/);
  assert.throws(() => writeDirect("/nonexistent", 0, new Uint8Array(100)), /length 100/);
});

Deno.test("direct I/O: a read past the end and a missing device are errors naming the path", async () => {
  const path = await scratch(DIRECT_IO_ALIGN);
  try {
    assert.throws(() => readDirect(path, DIRECT_IO_ALIGN, DIRECT_IO_ALIGN), /end of device/);
    assert.throws(() => readDirect(`${path}.missing`, 0, DIRECT_IO_ALIGN), /ENOENT/);
  } finally {
    await Deno.remove(path.replace(/\/[^/]*$/, ""), { recursive: true });
  }
});
