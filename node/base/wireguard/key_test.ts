import assert from "node:assert/strict";
import { keyBytes, keyText } from "./codec.ts";
import { clamp, generateKeyPair, loadOrCreateKey, publicKeyOf } from "./key.ts";

const unhex = (s: string) => new Uint8Array(s.match(/../g)!.map((h) => parseInt(h, 16)));

Deno.test("wireguard key: public key of RFC 7748 §6.1 Alice's private key", async () => {
  const alice = keyText(unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  assert.equal(
    await publicKeyOf(alice),
    keyText(unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")),
  );
  // Clamping does not change the public key (X25519 clamps on use).
  assert.equal(await publicKeyOf(keyText(clamp(keyBytes(alice)))), await publicKeyOf(alice));
});

Deno.test("wireguard key: generated pairs are clamped, distinct and consistent", async () => {
  const a = await generateKeyPair();
  const b = await generateKeyPair();
  assert.notEqual(a.privateKey, b.privateKey);
  const k = keyBytes(a.privateKey);
  assert.equal(k[0] & 7, 0);
  assert.equal(k[31] & 0xc0, 0x40);
  assert.equal(await publicKeyOf(a.privateKey), a.publicKey);
  assert.equal(keyBytes(a.publicKey).length, 32);
});

Deno.test("wireguard key: created once with mode 0600, kept, replaced when corrupt", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/clusternet/private.key`;
    const first = await loadOrCreateKey(path);
    assert.equal(first.created, true);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/clusternet`)).mode! & 0o777, 0o700);
    assert.equal((await Deno.readTextFile(path)).trim(), first.privateKey);
    const again = await loadOrCreateKey(path);
    assert.deepEqual(again, { ...first, created: false });
    await Deno.writeTextFile(path, "garbage");
    const fresh = await loadOrCreateKey(path);
    assert.equal(fresh.created, true);
    assert.notEqual(fresh.publicKey, first.publicKey);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal(await publicKeyOf((await Deno.readTextFile(path)).trim()), fresh.publicKey);
    await assert.rejects(loadOrCreateKey(dir), Deno.errors.IsADirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
