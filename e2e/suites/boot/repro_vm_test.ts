/**
 * Build reproducibility (image.md §12): two image builds in separate directories give the same
 * root hash, byte-identical erofs/verity images, unsigned UKIs, OVMF VARS and agent bundle.
 * Tier 3 because it runs the whole image chain twice.
 */
import assert from "node:assert/strict";
import { repro } from "../../../os-image/repro.ts";

Deno.test("building the image twice gives identical root hash and UKIs", {
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "mkimg-repro-" });
  try {
    const items = await repro(dir);
    assert.ok(items.length >= 6);
    for (const i of items) {
      assert.match(i.first, /^[0-9a-f]{64}$/, `${i.name} has a hash`);
      assert.equal(i.second, i.first, `${i.name} differs between two builds`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
