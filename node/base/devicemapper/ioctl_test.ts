/** Tier-1 tests of the device-mapper ioctl numbers. */
import assert from "node:assert/strict";
import { DM_CMD, DM_FLAG, dmRequest, ioc } from "./ioctl.ts";

Deno.test("DM_VERSION is _IOWR(0xfd, 0, struct dm_ioctl) = 0xc138fd00", () => {
  assert.equal(dmRequest("VERSION"), 0xc138fd00);
});

Deno.test("each command number lands in the low byte of its request", () => {
  // Values as the C header computes them (checked against <linux/dm-ioctl.h> by hand).
  assert.equal(dmRequest("DEV_CREATE"), 0xc138fd03);
  assert.equal(dmRequest("DEV_REMOVE"), 0xc138fd04);
  assert.equal(dmRequest("DEV_SUSPEND"), 0xc138fd06);
  assert.equal(dmRequest("DEV_STATUS"), 0xc138fd07);
  assert.equal(dmRequest("TABLE_LOAD"), 0xc138fd09);
  assert.equal(dmRequest("TABLE_STATUS"), 0xc138fd0c);
  assert.equal(dmRequest("GET_TARGET_VERSION"), 0xc138fd11);
  for (const [name, nr] of Object.entries(DM_CMD)) {
    assert.equal(dmRequest(name as keyof typeof DM_CMD) & 0xff, nr, name);
  }
});

Deno.test("ioc rejects fields that do not fit their bit widths", () => {
  assert.throws(() => ioc(3, 0xfd, 256, 312), RangeError);
  assert.throws(() => ioc(3, 0xfd, 0, 1 << 14), RangeError);
  // A sizeless request as a cross-check: LOOP_CONFIGURE is 0x4C0A = _IO(0x4c, 0x0a).
  assert.equal(ioc(0, 0x4c, 0x0a, 0), 0x4c0a);
});

Deno.test("secure-data and status-table flags have their header bit positions", () => {
  assert.equal(DM_FLAG.SECURE_DATA, 0x8000);
  assert.equal(DM_FLAG.STATUS_TABLE, 0x10);
  assert.equal(DM_FLAG.BUFFER_FULL, 0x100);
});
