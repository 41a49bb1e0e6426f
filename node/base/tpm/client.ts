/**
 * A small TPM 2.0 client: the commands needed for sealing data to PCR 7 (node.md §8.4) and for
 * tests (PCR_Extend, GetCapability). Commands are serialised (one in flight); every method that
 * creates a transient object or session leaves flushing to the caller, which must use
 * `try/finally` — a swtpm socket has no resource manager, so a leaked handle stays until the
 * TPM restarts.
 * @module
 */
import { ALG, CAP, CC, ccName, OBJ, RH, SE, SESSION_CONTINUE, ST } from "./constants.ts";
import { Reader, Writer } from "./marshal.ts";
import { TpmError } from "./rc.ts";
import type { Transport } from "./transport.ts";

/** How a command's handles are authorised. */
export type Auth =
  /** Password session (TPM_RS_PW) with an empty password. */
  | { kind: "password" }
  /** A started policy session whose policy the command satisfies. */
  | { kind: "policy"; session: number };

/** Result of {@link Tpm.create}: the TPM2B blobs to store and later {@link Tpm.load}. */
export interface CreatedObject {
  /** TPM2B_PUBLIC, including its 16-bit size. */
  public: Uint8Array;
  /** TPM2B_PRIVATE, including its 16-bit size. */
  private: Uint8Array;
}

/** The PCR selection `sha256:[pcrs]` as TPML_PCR_SELECTION. */
export function pcrSelection(pcrs: number[]): Uint8Array {
  const select = new Uint8Array(3);
  for (const p of pcrs) {
    if (!Number.isInteger(p) || p < 0 || p > 23) throw new RangeError(`PCR ${p} out of range`);
    select[p >> 3] |= 1 << (p & 7);
  }
  return new Writer().u32(1).u16(ALG.SHA256).u8(3).bytes(select).finish();
}

/**
 * The standard SRK template (TCG TPM v2.0 Provisioning Guidance §7.5.1): RSA-2048 restricted
 * decryption key, AES-128-CFB, empty auth and policy, 256 zero bytes of unique.
 */
export function srkTemplate(): Uint8Array {
  const attrs = OBJ.fixedTPM | OBJ.fixedParent | OBJ.sensitiveDataOrigin | OBJ.userWithAuth |
    OBJ.noDA | OBJ.restricted | OBJ.decrypt;
  return new Writer()
    .u16(ALG.RSA).u16(ALG.SHA256).u32(attrs).tpm2b(new Uint8Array())
    .u16(ALG.AES).u16(128).u16(ALG.CFB) // symmetric
    .u16(ALG.NULL) // scheme
    .u16(2048).u32(0) // keyBits, exponent (default 65537)
    .tpm2b(new Uint8Array(256))
    .finish();
}

/**
 * A sealed data object's template: keyedHash with NULL scheme, bound to this TPM and parent,
 * usable only through `policy` (no userWithAuth, so a password cannot unseal it).
 */
export function sealedTemplate(policy: Uint8Array): Uint8Array {
  return new Writer()
    .u16(ALG.KEYEDHASH).u16(ALG.SHA256).u32(OBJ.fixedTPM | OBJ.fixedParent).tpm2b(policy)
    .u16(ALG.NULL) // TPMT_KEYEDHASH_SCHEME
    .tpm2b(new Uint8Array())
    .finish();
}

/** A TPM 2.0 behind a {@link Transport}. */
export class Tpm {
  #queue: Promise<unknown> = Promise.resolve();

  /** Uses `transport`; {@link close} closes it. */
  constructor(readonly transport: Transport) {}

  /** Where the TPM is (`unix:…`, `/dev/tpmrm0`). */
  get description(): string {
    return this.transport.description;
  }

  /** Closes the transport. */
  close(): void {
    this.transport.close();
  }

  /**
   * Runs one command. `handles` go in the handle area; with `auth` (one entry per handle that
   * needs authorisation) the command carries a sessions area. Returns a reader over the
   * response after its header, its returned handles consumed into `outHandles`, and positioned
   * at the parameters.
   */
  async command(
    cc: number,
    handles: number[],
    auth: Auth[],
    params: Uint8Array,
    outHandles = 0,
  ): Promise<{ handles: number[]; params: Reader }> {
    const w = new Writer().u16(auth.length ? ST.SESSIONS : ST.NO_SESSIONS).u32(0).u32(cc);
    for (const h of handles) w.u32(h);
    if (auth.length) {
      const a = new Writer();
      for (const s of auth) {
        // handle, nonceCaller (empty), attributes (continueSession: the caller flushes), hmac.
        a.u32(s.kind === "password" ? RH.PW : s.session).tpm2b(new Uint8Array());
        a.u8(SESSION_CONTINUE).tpm2b(new Uint8Array());
      }
      const area = a.finish();
      w.u32(area.length).bytes(area);
    }
    const cmd = w.bytes(params).finish();
    new DataView(cmd.buffer).setUint32(2, cmd.length);
    const run = this.#queue.then(() => this.transport.transmit(cmd));
    this.#queue = run.catch(() => {});
    const resp = new Reader(await run);
    const tag = resp.u16();
    resp.u32(); // size, checked by the transport
    const rc = resp.u32();
    if (rc !== 0) throw new TpmError(ccName(cc), rc);
    const out: number[] = [];
    for (let i = 0; i < outHandles; i++) out.push(resp.u32());
    if (tag === ST.SESSIONS) {
      const size = resp.u32();
      return { handles: out, params: new Reader(resp.bytes(size)) };
    }
    return { handles: out, params: resp };
  }

  /** TPM2_GetRandom, repeated until `n` bytes were returned (a TPM gives ≤ one digest a call). */
  async getRandom(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let have = 0;
    while (have < n) {
      const want = Math.min(n - have, 32);
      const r = await this.command(CC.GetRandom, [], [], new Writer().u16(want).finish());
      const b = r.params.tpm2b();
      if (b.length === 0) throw new Error("TPM2_GetRandom returned no bytes");
      out.set(b.subarray(0, n - have), have);
      have += Math.min(b.length, n - have);
    }
    return out;
  }

  /** TPM2_PCR_Read of one SHA-256 PCR. */
  async pcrRead(pcr: number): Promise<Uint8Array> {
    const r = await this.command(CC.PCR_Read, [], [], pcrSelection([pcr]));
    r.params.u32(); // pcrUpdateCounter
    const sel = r.params;
    for (let n = sel.u32(); n > 0; n--) {
      sel.u16();
      sel.bytes(sel.u8());
    }
    const count = sel.u32();
    if (count !== 1) throw new Error(`TPM2_PCR_Read: PCR ${pcr} (sha256) not available`);
    return sel.tpm2b();
  }

  /** TPM2_PCR_Extend of one SHA-256 PCR with a 32-byte digest (tests, fault injection). */
  async pcrExtend(pcr: number, digest: Uint8Array): Promise<void> {
    if (digest.length !== 32) throw new RangeError("PCR_Extend needs a 32-byte SHA-256 digest");
    const p = new Writer().u32(1).u16(ALG.SHA256).bytes(digest).finish();
    await this.command(CC.PCR_Extend, [pcr], [{ kind: "password" }], p);
  }

  /** TPM2_CreatePrimary in the owner hierarchy with `template`; returns the object handle. */
  async createPrimary(template: Uint8Array): Promise<number> {
    const p = new Writer()
      .tpm2b(new Writer().tpm2b(new Uint8Array()).tpm2b(new Uint8Array()).finish())
      .tpm2b(template)
      .tpm2b(new Uint8Array()) // outsideInfo
      .u32(0) // creationPCR: none
      .finish();
    const r = await this.command(CC.CreatePrimary, [RH.OWNER], [{ kind: "password" }], p, 1);
    return r.handles[0];
  }

  /** TPM2_Create of an object under `parent` carrying `data` as its sensitive part. */
  async create(parent: number, template: Uint8Array, data: Uint8Array): Promise<CreatedObject> {
    const p = new Writer()
      .tpm2b(new Writer().tpm2b(new Uint8Array()).tpm2b(data).finish())
      .tpm2b(template)
      .tpm2b(new Uint8Array())
      .u32(0)
      .finish();
    const r = await this.command(CC.Create, [parent], [{ kind: "password" }], p);
    const priv = r.params.tpm2bRaw();
    const pub = r.params.tpm2bRaw();
    return { public: pub, private: priv };
  }

  /** TPM2_Load of a {@link CreatedObject} under `parent`; returns the transient handle. */
  async load(parent: number, obj: CreatedObject): Promise<number> {
    const p = new Writer().bytes(obj.private).bytes(obj.public).finish();
    const r = await this.command(CC.Load, [parent], [{ kind: "password" }], p, 1);
    return r.handles[0];
  }

  /**
   * TPM2_StartAuthSession: unsalted, unbound, no parameter encryption (TPM_ALG_NULL), SHA-256;
   * a policy session, or a trial session (computes a policy digest without checking it).
   */
  async startAuthSession(type: "policy" | "trial"): Promise<number> {
    const p = new Writer()
      .tpm2b(crypto.getRandomValues(new Uint8Array(32))) // nonceCaller (≥ 16 bytes)
      .tpm2b(new Uint8Array()) // encryptedSalt
      .u8(type === "policy" ? SE.POLICY : SE.TRIAL)
      .u16(ALG.NULL) // symmetric
      .u16(ALG.SHA256)
      .finish();
    const r = await this.command(CC.StartAuthSession, [RH.NULL, RH.NULL], [], p, 1);
    return r.handles[0];
  }

  /** TPM2_PolicyPCR with the TPM's current values of `sha256:[pcrs]`. */
  async policyPcr(session: number, pcrs: number[]): Promise<void> {
    const p = new Writer().tpm2b(new Uint8Array()).bytes(pcrSelection(pcrs)).finish();
    await this.command(CC.PolicyPCR, [session], [], p);
  }

  /** TPM2_PolicyGetDigest of a policy or trial session. */
  async policyGetDigest(session: number): Promise<Uint8Array> {
    const r = await this.command(CC.PolicyGetDigest, [session], [], new Uint8Array());
    return r.params.tpm2b();
  }

  /** TPM2_Unseal of a loaded sealed data object, authorised by a policy session. */
  async unseal(item: number, session: number): Promise<Uint8Array> {
    const r = await this.command(
      CC.Unseal,
      [item],
      [{ kind: "policy", session }],
      new Uint8Array(),
    );
    return r.params.tpm2b();
  }

  /** TPM2_FlushContext of a transient object or session. */
  async flush(handle: number): Promise<void> {
    await this.command(CC.FlushContext, [], [], new Writer().u32(handle).finish());
  }

  /**
   * TPM2_GetCapability(TPM_CAP_HANDLES) from `first` (a handle type like HT.TRANSIENT; the TPM
   * answers only handles of that type — loaded sessions come back as 0x02… or 0x03…).
   */
  async handles(first: number): Promise<number[]> {
    const out: number[] = [];
    let next = first;
    for (;;) {
      const p = new Writer().u32(CAP.HANDLES).u32(next).u32(64).finish();
      const r = await this.command(CC.GetCapability, [], [], p);
      const more = r.params.u8();
      r.params.u32(); // capability
      const n = r.params.u32();
      for (let i = 0; i < n; i++) out.push(r.params.u32());
      if (!more || n === 0) return out;
      next = out[out.length - 1] + 1;
    }
  }
}
