/**
 * TPM 2.0 constants used by this client (TPM 2.0 Part 2). Only what the commands here need.
 * @module
 */

/** Structure tags (TPM_ST). */
export const ST = { NO_SESSIONS: 0x8001, SESSIONS: 0x8002 } as const;

/** Command codes (TPM_CC). */
export const CC = {
  CreatePrimary: 0x131,
  Create: 0x153,
  Load: 0x157,
  Unseal: 0x15e,
  FlushContext: 0x165,
  StartAuthSession: 0x176,
  GetCapability: 0x17a,
  GetRandom: 0x17b,
  PCR_Read: 0x17e,
  PolicyPCR: 0x17f,
  PCR_Extend: 0x182,
  PolicyGetDigest: 0x189,
} as const;

/** Name of a command code, for error messages. */
export function ccName(cc: number): string {
  const e = Object.entries(CC).find(([, v]) => v === cc);
  return e ? `TPM2_${e[0]}` : `TPM2_CC_0x${cc.toString(16)}`;
}

/** Algorithm identifiers (TPM_ALG). */
export const ALG = {
  RSA: 0x0001,
  SHA256: 0x000b,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  NULL: 0x0010,
  CFB: 0x0043,
} as const;

/** Permanent handles (TPM_RH, TPM_RS). */
export const RH = { OWNER: 0x40000001, NULL: 0x40000007, PW: 0x40000009 } as const;

/** Handle types (TPM_HT, the top byte of a handle) as GetCapability range starts. */
export const HT = { TRANSIENT: 0x80000000, LOADED_SESSION: 0x02000000 } as const;

/** Capabilities (TPM_CAP). */
export const CAP = { HANDLES: 0x00000001 } as const;

/** Session types (TPM_SE). */
export const SE = { POLICY: 0x01, TRIAL: 0x03 } as const;

/** Object attributes (TPMA_OBJECT). */
export const OBJ = {
  fixedTPM: 1 << 1,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  noDA: 1 << 10,
  restricted: 1 << 16,
  decrypt: 1 << 17,
} as const;

/** Session attributes (TPMA_SESSION). */
export const SESSION_CONTINUE = 0x01;
