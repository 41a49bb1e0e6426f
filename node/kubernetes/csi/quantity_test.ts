import assert from "node:assert/strict";
import { bytesQuantity, quantityBytes } from "./quantity.ts";

Deno.test("quantity: binary, decimal, exponent and fractional forms to whole bytes (rounded up)", () => {
  assert.equal(quantityBytes("100"), 100n);
  assert.equal(quantityBytes("1Ki"), 1024n);
  assert.equal(quantityBytes("64Mi"), 64n << 20n);
  assert.equal(quantityBytes("1.5Gi"), 3n << 29n);
  assert.equal(quantityBytes("500M"), 500_000_000n);
  assert.equal(quantityBytes("1e9"), 1_000_000_000n);
  assert.equal(quantityBytes("1E3"), 1000n);
  assert.equal(quantityBytes("1500m"), 2n, "1.5 bytes round up");
  assert.equal(quantityBytes("+2k"), 2000n);
  assert.equal(quantityBytes("0.1"), 1n);
});

Deno.test("quantity: malformed and negative quantities are refused", () => {
  for (const q of ["", "Gi", "1 Gi", "1GiB", "1.2.3", "-1Gi", "1e99", "0x10", "1i"]) {
    assert.throws(() => quantityBytes(q), Error, q);
  }
});

Deno.test("quantity: bytes print with the largest exact binary suffix", () => {
  assert.equal(bytesQuantity(64n << 20n), "64Mi");
  assert.equal(bytesQuantity(3n << 29n), "1536Mi");
  assert.equal(bytesQuantity(1n << 30n), "1Gi");
  assert.equal(bytesQuantity(1000n), "1000");
  assert.equal(bytesQuantity(0n), "0");
  assert.equal(quantityBytes(bytesQuantity(123456789n)), 123456789n);
});
