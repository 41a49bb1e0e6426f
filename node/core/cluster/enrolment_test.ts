import assert from "node:assert/strict";
import { NodeStorageSecurity } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { dataKey, PermanentEnrolmentError } from "./enrolment.ts";

Deno.test("data key: NUK ⊕ CUK for encrypted storage; neither half alone", () => {
  const nuk = crypto.getRandomValues(new Uint8Array(32));
  const cuk = crypto.getRandomValues(new Uint8Array(32));
  const k = dataKey(NodeStorageSecurity.ENCRYPTED, nuk, cuk);
  assert.equal(k.security, NodeStorageSecurity.ENCRYPTED);
  assert.equal(k.key.length, 32);
  for (let i = 0; i < 32; i++) assert.equal(k.key[i], nuk[i] ^ cuk[i]);
  assert.notDeepEqual(k.key, nuk);
  assert.notDeepEqual(k.key, cuk);
});

Deno.test("data key: INSECURE storage needs no key (join does not fetch the CUK)", () => {
  const k = dataKey(NodeStorageSecurity.INSECURE, new Uint8Array(32), new Uint8Array());
  assert.deepEqual(k, { security: NodeStorageSecurity.INSECURE, key: new Uint8Array() });
});

Deno.test("data key: a missing CUK for encrypted storage is a permanent error", () => {
  assert.throws(
    () =>
      dataKey(NodeStorageSecurity.AUTHENTICATED_ENCRYPTED, new Uint8Array(32), new Uint8Array()),
    (e: Error) => e instanceof PermanentEnrolmentError && /CUK 0/.test(e.message),
  );
});
