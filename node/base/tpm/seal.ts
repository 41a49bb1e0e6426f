/**
 * Sealing a payload to PCR 7 (node.md §8.4): a fresh 32-byte box key is sealed under the SRK
 * (re-created from the owner hierarchy with the standard template for every operation) with
 * policy `PolicyPCR(sha256:[7])` of the current PCR value; the payload is AES-256-GCM under the
 * box key. Unsealing needs the same TPM and the same PCR 7 value; any mismatch throws. Every
 * transient object and session is flushed before returning, also on failure.
 * @module
 */
import { CC } from "./constants.ts";
import {
  type CreatedObject,
  pcrSelection,
  sealedTemplate,
  srkTemplate,
  type Tpm,
} from "./client.ts";
import { checkTpm2b, Writer } from "./marshal.ts";

/** The PCRs sealing binds to: PCR 7 (Secure Boot policy) only. */
export const SEAL_PCRS: readonly number[] = [7];

/**
 * A sealed payload; field for field the `metropolis.proto.private.TPMSealed` message, so callers
 * can `create(TPMSealedSchema, sealed)`.
 */
export interface Sealed {
  /** TPM2B_PUBLIC of the sealed box-key object. */
  public: Uint8Array;
  /** TPM2B_PRIVATE of the sealed box-key object. */
  private: Uint8Array;
  /** PCR selection of the policy as text, `sha256:[7]`. */
  pcrSelection: string;
  /** 12-byte AES-GCM nonce. */
  nonce: Uint8Array;
  /** AES-256-GCM(box key, nonce) of the payload, tag appended. */
  ciphertext: Uint8Array;
}

/** `sha256:[7]` → [7]; anything else throws. */
export function parsePcrSelection(s: string): number[] {
  const m = /^sha256:\[(\d{1,2}(?:,\d{1,2})*)\]$/.exec(s);
  if (!m) throw new Error(`unsupported PCR selection ${JSON.stringify(s)}`);
  return m[1].split(",").map(Number);
}

const sha256 = async (b: Uint8Array) =>
  new Uint8Array(await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>));

/**
 * The policy digest of `PolicyPCR(sha256:[pcrs])` for the given PCR values, as a trial session
 * would compute it (TPM 2.0 Part 3 §23.7): H(0…0 ‖ TPM_CC_PolicyPCR ‖ selection ‖ H(values)).
 */
export async function policyPcrDigest(pcrs: number[], values: Uint8Array[]): Promise<Uint8Array> {
  const concat = new Writer();
  for (const v of values) concat.bytes(v);
  return await sha256(
    new Writer()
      .bytes(new Uint8Array(32))
      .u32(CC.PolicyPCR)
      .bytes(pcrSelection(pcrs))
      .bytes(await sha256(concat.finish()))
      .finish(),
  );
}

/**
 * Runs `fn(handle)` and flushes `handle` afterwards. A flush failure after a failed `fn` is
 * dropped so the first error is the one reported.
 */
export async function withFlushed<T>(
  tpm: Tpm,
  handle: number,
  fn: (h: number) => Promise<T>,
): Promise<T> {
  let out: T;
  try {
    out = await fn(handle);
  } catch (e) {
    await tpm.flush(handle).catch(() => {});
    throw e;
  }
  await tpm.flush(handle);
  return out;
}

async function aesKey(raw: Uint8Array, use: KeyUsage): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", raw as Uint8Array<ArrayBuffer>, "AES-GCM", false, [
    use,
  ]);
}

/** Seals `payload` to the TPM's current PCR 7 (see the module comment). */
export async function seal(tpm: Tpm, payload: Uint8Array): Promise<Sealed> {
  const pcrs = [...SEAL_PCRS];
  const values = [];
  for (const p of pcrs) values.push(await tpm.pcrRead(p));
  const policy = await policyPcrDigest(pcrs, values);
  const boxKey = crypto.getRandomValues(new Uint8Array(32));
  const obj: CreatedObject = await withFlushed(
    tpm,
    await tpm.createPrimary(srkTemplate()),
    (srk) => tpm.create(srk, sealedTemplate(policy), boxKey),
  );
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce },
      await aesKey(boxKey, "encrypt"),
      payload as Uint8Array<ArrayBuffer>,
    ),
  );
  boxKey.fill(0);
  return {
    public: obj.public,
    private: obj.private,
    pcrSelection: `sha256:[${pcrs.join(",")}]`,
    nonce,
    ciphertext,
  };
}

/**
 * Unseals a {@link seal} result: load under a fresh SRK, policy session with `PolicyPCR`,
 * `Unseal`, decrypt. Throws on a PCR mismatch (`TPM2_Unseal: TPM_RC_POLICY_FAIL …`), another
 * TPM, malformed blobs or a ciphertext that does not authenticate.
 */
export async function unseal(tpm: Tpm, s: Sealed): Promise<Uint8Array> {
  const pcrs = parsePcrSelection(s.pcrSelection);
  const obj = {
    public: checkTpm2b("public", s.public),
    private: checkTpm2b("private", s.private),
  };
  if (s.nonce.length !== 12) throw new Error(`nonce is ${s.nonce.length} bytes, want 12`);
  const item = await withFlushed(
    tpm,
    await tpm.createPrimary(srkTemplate()),
    (srk) => tpm.load(srk, obj),
  );
  const boxKey = await withFlushed(tpm, item, async () => {
    return await withFlushed(tpm, await tpm.startAuthSession("policy"), async (session) => {
      await tpm.policyPcr(session, pcrs);
      return await tpm.unseal(item, session);
    });
  });
  if (boxKey.length !== 32) throw new Error(`unsealed box key is ${boxKey.length} bytes, want 32`);
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: s.nonce as Uint8Array<ArrayBuffer> },
        await aesKey(boxKey, "decrypt"),
        s.ciphertext as Uint8Array<ArrayBuffer>,
      ),
    );
  } catch {
    throw new Error("sealed ciphertext does not authenticate under the unsealed key");
  } finally {
    boxKey.fill(0);
  }
}
