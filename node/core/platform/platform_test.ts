import assert from "node:assert/strict";
import { NodeStorageSecurity } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { checkStorageSecurity, storageSecurities } from "./platform.ts";

const { INSECURE, ENCRYPTED, AUTHENTICATED_ENCRYPTED } = NodeStorageSecurity;

Deno.test("storage securities: without encryption only INSECURE, with it every level", () => {
  assert.deepEqual(storageSecurities({ encryption: false }), [INSECURE]);
  assert.deepEqual(storageSecurities({ encryption: true }), [
    INSECURE,
    ENCRYPTED,
    AUTHENTICATED_ENCRYPTED,
  ]);
});

Deno.test("storage securities: a level the platform cannot provide is refused by name", () => {
  checkStorageSecurity({ encryption: false }, INSECURE);
  checkStorageSecurity({ encryption: true }, AUTHENTICATED_ENCRYPTED);
  assert.throws(
    () => checkStorageSecurity({ encryption: false }, ENCRYPTED),
    /ENCRYPTED is not available on this platform \(no device-mapper; only INSECURE\)/,
  );
  assert.throws(
    () => checkStorageSecurity({ encryption: true }, NodeStorageSecurity.INVALID),
    /INVALID is not available/,
  );
});
