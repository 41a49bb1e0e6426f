/**
 * Tier-1 tests of the control device's failure mode. Real create/load/resume/remove runs need a
 * kernel with device-mapper, which the test hosts lack: those are VM-tier (tier 3) tests.
 */
import assert from "node:assert/strict";
import { DeviceMapper, DeviceMapperUnavailable, DM_CONTROL } from "./mod.ts";

Deno.test("a missing control node is a one-line DeviceMapperUnavailable, before any FFI", () => {
  const dm = new DeviceMapper("/nonexistent/mapper/control");
  for (const op of [() => dm.version(), () => dm.create("x"), () => dm.remove("x")]) {
    assert.throws(op, (e: Error) => {
      assert.ok(e instanceof DeviceMapperUnavailable);
      assert.match(
        e.message,
        /^device-mapper unavailable: \/nonexistent\/mapper\/control does not exist/,
      );
      assert.ok(!e.message.includes("\n"));
      return true;
    });
  }
});

Deno.test({
  name: "this host (no device-mapper) reports the default control node as unavailable",
  ignore: (() => {
    try {
      Deno.statSync(DM_CONTROL);
      return true; // a host with device-mapper: the VM tier covers the real calls
    } catch {
      return false;
    }
  })(),
  fn() {
    assert.throws(() => new DeviceMapper().version(), DeviceMapperUnavailable);
  },
});
