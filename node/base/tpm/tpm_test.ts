/** The TPM client and PCR-7 sealing against a real swtpm. */
import assert from "node:assert/strict";
import { HT, srkTemplate, Tpm, TpmError } from "./mod.ts";
import { type DeviceFile, DeviceTransport } from "./transport.ts";
import { seal, unseal } from "./seal.ts";
import { policyPcrDigest } from "./seal.ts";
import { Reader } from "./marshal.ts";
import { rcName } from "./rc.ts";
import { Swtpm } from "./swtpm.ts";

const hasSwtpm = await Deno.stat("/usr/bin/swtpm").then(() => true, () => false);
const opts = { ignore: !hasSwtpm, sanitizeResources: false, sanitizeOps: false };

const ext = (b: number) => new Uint8Array(32).fill(b);

Deno.test("rcName: format-one with session number, warnings, unknown", () => {
  assert.equal(rcName(0x99d), "TPM_RC_POLICY_FAIL");
  assert.equal(rcName(0x902), "TPM_RC_OBJECT_MEMORY");
  assert.equal(rcName(0x100), "TPM_RC_INITIALIZE");
  assert.equal(rcName(0x98e), "TPM_RC_AUTH_FAIL");
  assert.equal(rcName(0x17f), "TPM_RC_0x17f");
  assert.equal(
    new TpmError("TPM2_Unseal", 0x99d).message,
    "TPM2_Unseal: TPM_RC_POLICY_FAIL (0x99d)",
  );
});

Deno.test("Reader: reads past the end throw", () => {
  const r = new Reader(new Uint8Array([0, 4, 1]));
  assert.throws(() => r.tpm2b(), /truncated/);
});

Deno.test("tpm: GetRandom, PCR read/extend, policy digest = trial session", opts, async () => {
  const sw = await Swtpm.start();
  const tpm = await sw.connect();
  try {
    for (const n of [1, 32, 33, 100]) assert.equal((await tpm.getRandom(n)).length, n);
    const before = await tpm.pcrRead(7);
    assert.deepEqual(before, new Uint8Array(32)); // fresh after startup-clear
    await tpm.pcrExtend(7, ext(1));
    const after = await tpm.pcrRead(7);
    assert.notDeepEqual(after, before);
    // The leak checks below see a handle that is not flushed.
    const t = performance.now();
    const srk = await tpm.createPrimary(srkTemplate());
    console.log(`SRK CreatePrimary ${(performance.now() - t).toFixed(0)} ms`);
    assert.deepEqual(await tpm.handles(HT.TRANSIENT), [srk]);
    await tpm.flush(srk);
    assert.deepEqual(await tpm.handles(HT.TRANSIENT), []);
    const trial = await tpm.startAuthSession("trial");
    assert.deepEqual(await tpm.handles(HT.LOADED_SESSION), [trial]);
    try {
      await tpm.policyPcr(trial, [7]);
      assert.deepEqual(await tpm.policyGetDigest(trial), await policyPcrDigest([7], [after]));
    } finally {
      await tpm.flush(trial);
    }
    assert.deepEqual(await tpm.handles(HT.LOADED_SESSION), []);
  } finally {
    tpm.close();
    await sw.destroy();
  }
});

Deno.test(
  "seal: round trip, PCR 7 change, restart, tampering, no leaked handles",
  opts,
  async () => {
    const sw = await Swtpm.start();
    let tpm = await sw.connect();
    try {
      const payload = crypto.getRandomValues(new Uint8Array(200));
      let t = performance.now();
      const sealed = await seal(tpm, payload);
      const sealMs = performance.now() - t;
      assert.equal(sealed.pcrSelection, "sha256:[7]");
      assert.equal(sealed.nonce.length, 12);
      t = performance.now();
      assert.deepEqual(await unseal(tpm, sealed), payload);
      const unsealMs = performance.now() - t;
      console.log(`seal ${sealMs.toFixed(0)} ms, unseal ${unsealMs.toFixed(0)} ms (swtpm)`);

      // Tampering: ciphertext, blobs, selection.
      const flipped = sealed.ciphertext.slice();
      flipped[5] ^= 1;
      await assert.rejects(
        unseal(tpm, { ...sealed, ciphertext: flipped }),
        /does not authenticate/,
      );
      await assert.rejects(
        unseal(tpm, { ...sealed, private: sealed.private.subarray(0, 10) }),
        /not a well-formed TPM2B/,
      );
      const priv = sealed.private.slice();
      priv[priv.length - 3] ^= 1;
      await assert.rejects(unseal(tpm, { ...sealed, private: priv }), /TPM2_Load: TPM_RC_/);
      await assert.rejects(
        unseal(tpm, { ...sealed, pcrSelection: "sha1:[7]" }),
        /unsupported PCR selection/,
      );

      // Another TPM (other seeds, so another SRK) cannot load the blobs.
      const other = await Swtpm.start();
      const otherTpm = await other.connect();
      try {
        await assert.rejects(unseal(otherTpm, sealed), /TPM2_Load: TPM_RC_INTEGRITY/);
      } finally {
        otherTpm.close();
        await other.destroy();
      }

      // A reboot (swtpm restart: PCRs reset, same seeds) unseals again.
      tpm.close();
      await sw.restart();
      tpm = await sw.connect();
      assert.deepEqual(await unseal(tpm, sealed), payload);

      // PCR 7 changed: the policy fails and names the command and code.
      await tpm.pcrExtend(7, ext(7));
      await assert.rejects(
        unseal(tpm, sealed),
        (e: unknown) => {
          assert.ok(e instanceof TpmError);
          assert.equal(e.message, "TPM2_Unseal: TPM_RC_POLICY_FAIL (0x99d)");
          return true;
        },
      );
      // Sealing again binds to the new value.
      const resealed = await seal(tpm, payload);
      assert.deepEqual(await unseal(tpm, resealed), payload);

      assert.deepEqual(await tpm.handles(HT.TRANSIENT), []);
      assert.deepEqual(await tpm.handles(HT.LOADED_SESSION), []);
    } finally {
      tpm.close();
      await sw.destroy();
    }
  },
);

Deno.test("seal: 50 seal/unseal cycles leave no transient objects or sessions", opts, async () => {
  const sw = await Swtpm.start();
  const tpm = await sw.connect();
  try {
    const t = performance.now();
    for (let i = 0; i < 50; i++) {
      const p = new TextEncoder().encode(`payload ${i}`);
      assert.deepEqual(await unseal(tpm, await seal(tpm, p)), p);
    }
    console.log(`50 seal+unseal cycles: ${((performance.now() - t) / 50).toFixed(0)} ms each`);
    await tpm.pcrExtend(7, ext(9));
    const s = await seal(tpm, new Uint8Array([1]));
    await tpm.pcrExtend(7, ext(9));
    for (let i = 0; i < 5; i++) await assert.rejects(unseal(tpm, s), /POLICY_FAIL/);
    assert.deepEqual(await tpm.handles(HT.TRANSIENT), []);
    assert.deepEqual(await tpm.handles(HT.LOADED_SESSION), []);
  } finally {
    tpm.close();
    await sw.destroy();
  }
});

Deno.test("DeviceTransport: one write per command, a response put together from short reads", async () => {
  const response = new Uint8Array([0x80, 0x01, 0, 0, 0, 14, 0, 0, 0, 0, 0, 2, 0xab, 0xcd]);
  const written: Uint8Array[] = [];
  let pending: Uint8Array = new Uint8Array();
  const file: DeviceFile = {
    write(p) {
      written.push(p.slice());
      pending = response;
      return Promise.resolve(p.length);
    },
    read(p) {
      const n = Math.min(3, p.length, pending.length); // short reads
      p.set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return Promise.resolve(n);
    },
    close() {},
  };
  const tpm = new Tpm(new DeviceTransport("/dev/fake", file));
  assert.deepEqual(await tpm.getRandom(2), new Uint8Array([0xab, 0xcd]));
  assert.equal(written.length, 1);
  assert.deepEqual([...written[0]], [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 2]);
});
