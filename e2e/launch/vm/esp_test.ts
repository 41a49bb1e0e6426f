/** Tier 1: files on the ESP inside a node disk image, read from the host (vm/esp.ts). */
import assert from "node:assert/strict";
import { espOffset, readEspFile } from "./esp.ts";
import { placeholderDisk, writeEspFile } from "./esp_fixture.ts";

Deno.test("ESP of a node disk: found by type GUID, files read back, absent files undefined", async () => {
  const dir = await Deno.makeTempDir({ prefix: "launch-esp-test-" });
  try {
    const disk = await placeholderDisk(dir);
    assert.equal(await espOffset(disk), 1024 * 1024, "mkdisk aligns the ESP at 1 MiB");
    const uki = await readEspFile(disk, "EFI/BOOT/BOOTX64.EFI");
    assert.deepEqual(uki, new Uint8Array(4096).fill(0x4d));
    assert.equal(await readEspFile(disk, "metropolis/sealed_configuration.pb"), undefined);
    const payload = new Uint8Array([0, 1, 2, 0xff, 0x0a, 0x0d, 0x0a]);
    await Deno.writeFile(`${dir}/sealed.pb`, payload);
    await writeEspFile(disk, "metropolis/sealed_configuration.pb", `${dir}/sealed.pb`);
    assert.deepEqual(await readEspFile(disk, "metropolis/sealed_configuration.pb"), payload);
    await Deno.writeFile(`${dir}/blank.img`, new Uint8Array(1024 * 1024));
    await assert.rejects(espOffset(`${dir}/blank.img`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
