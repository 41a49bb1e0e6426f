import assert from "node:assert/strict";
import {
  compatible,
  decodeStatus,
  encodeStatus,
  MINIMUM_COMPATIBLE_RELEASE,
  parseRelease,
  type ReconcilerStatus,
} from "./status.ts";

const done = (major: number, minor: number, patch: number): ReconcilerStatus => ({
  state: "DONE",
  version: "0.3.0",
  minimumCompatibleRelease: { major, minor, patch },
});

Deno.test("status: the minimum compatible release is 0.1.0", () => {
  assert.deepEqual(MINIMUM_COMPATIBLE_RELEASE, { major: 0, minor: 1, patch: 0 });
});

Deno.test("status: a controller starts gated components only on DONE from a compatible release", () => {
  assert.equal(compatible(done(0, 1, 0), "0.1.0"), true);
  assert.equal(compatible(done(0, 1, 0), "0.1.0-dev3.g12345678.dirty"), true);
  assert.equal(compatible(done(0, 1, 0), "1.0.0"), true);
  assert.equal(compatible(done(0, 2, 0), "0.1.9"), false);
  assert.equal(compatible(done(1, 0, 0), "0.9.9"), false);
  assert.equal(compatible({ ...done(0, 1, 0), state: "WORKING" }, "0.1.0"), false);
  assert.equal(compatible(undefined, "0.1.0"), false);
  assert.equal(compatible(done(0, 1, 0), "nostamp"), false);
});

Deno.test("status: SemVer release parsing ignores prerelease and build parts", () => {
  assert.deepEqual(parseRelease("0.1.0-dev12.g1234abcd.dirty"), { major: 0, minor: 1, patch: 0 });
  assert.deepEqual(parseRelease("v1.32.4+meta"), { major: 1, minor: 32, patch: 4 });
  assert.equal(parseRelease("1.2"), undefined);
});

Deno.test("status: round-trips through JSON; anything else reads as no status", () => {
  const s = done(0, 1, 0);
  const bytes = new TextEncoder().encode(encodeStatus(s));
  assert.deepEqual(decodeStatus(bytes), s);
  assert.deepEqual(JSON.parse(encodeStatus(s)), {
    state: "DONE",
    version: "0.3.0",
    minimumCompatibleRelease: { major: 0, minor: 1, patch: 0 },
  });
  const enc = (x: string) => new TextEncoder().encode(x);
  assert.equal(decodeStatus(undefined), undefined);
  assert.equal(decodeStatus(enc("\x08\x01")), undefined);
  assert.equal(decodeStatus(enc(`{"state":"DONE","version":"1"}`)), undefined);
  assert.equal(
    decodeStatus(enc(
      `{"state":"OK","version":"1",` +
        `"minimumCompatibleRelease":{"major":0,"minor":1,"patch":0}}`,
    )),
    undefined,
  );
});
