/** Tier-1 tests of the GPT GUID byte order. */
import assert from "node:assert/strict";
import { decodeGuid, encodeGuid, normalizeGuid } from "./guid.ts";
import { PARTITION_TYPES } from "./parttypes.ts";

Deno.test("the ESP type GUID has the mixed-endian on-disk bytes of the UEFI spec", () => {
  const hex = "28732ac11ff8d211ba4b00a0c93ec93b";
  const disk = Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
  assert.equal(decodeGuid(disk), PARTITION_TYPES.esp);
  assert.deepEqual(encodeGuid("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"), disk);
});

Deno.test("encodeGuid and decodeGuid round-trip every node type GUID", () => {
  for (const g of Object.values(PARTITION_TYPES)) assert.equal(decodeGuid(encodeGuid(g)), g);
});

Deno.test("decodeGuid refuses to read past the buffer", () => {
  assert.throws(() => decodeGuid(new Uint8Array(20), 8), RangeError);
});

Deno.test("normalizeGuid lower-cases and rejects non-GUIDs", () => {
  assert.equal(
    normalizeGuid("ABCDEF01-2345-6789-ABCD-EF0123456789"),
    "abcdef01-2345-6789-abcd-ef0123456789",
  );
  assert.throws(() => normalizeGuid("abcdef01-2345-6789-abcd-ef012345678"), TypeError);
});
