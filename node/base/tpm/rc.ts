/**
 * TPM 2.0 response codes (TPM 2.0 Part 2 §6.6): names for the codes a client meets, and the
 * error thrown for a failed command, one line like `TPM2_Unseal: TPM_RC_POLICY_FAIL (0x99d)`.
 * @module
 */

/** Format-one errors (bit 7 set), by their 6-bit number. */
const FMT1: Record<number, string> = {
  0x01: "ASYMMETRIC",
  0x02: "ATTRIBUTES",
  0x03: "HASH",
  0x04: "VALUE",
  0x05: "HIERARCHY",
  0x07: "KEY_SIZE",
  0x08: "MGF",
  0x09: "MODE",
  0x0a: "TYPE",
  0x0b: "HANDLE",
  0x0c: "KDF",
  0x0d: "RANGE",
  0x0e: "AUTH_FAIL",
  0x0f: "NONCE",
  0x10: "PP",
  0x12: "SCHEME",
  0x15: "SIZE",
  0x16: "SYMMETRIC",
  0x17: "TAG",
  0x18: "SELECTOR",
  0x1a: "INSUFFICIENT",
  0x1b: "SIGNATURE",
  0x1c: "KEY",
  0x1d: "POLICY_FAIL",
  0x1f: "INTEGRITY",
  0x20: "TICKET",
  0x21: "RESERVED_BITS",
  0x22: "BAD_AUTH",
  0x23: "EXPIRED",
  0x24: "POLICY_CC",
  0x25: "BINDING",
  0x26: "CURVE",
  0x27: "ECC_POINT",
};

/** Format-zero TPM 2.0 errors (RC_VER1 = 0x100 + n). */
const VER1: Record<number, string> = {
  0x00: "INITIALIZE",
  0x01: "FAILURE",
  0x03: "SEQUENCE",
  0x0b: "PRIVATE",
  0x19: "HMAC",
  0x20: "DISABLED",
  0x21: "EXCLUSIVE",
  0x24: "AUTH_TYPE",
  0x25: "AUTH_MISSING",
  0x26: "POLICY",
  0x27: "PCR",
  0x28: "PCR_CHANGED",
  0x2d: "UPGRADE",
  0x2e: "TOO_MANY_CONTEXTS",
  0x2f: "AUTH_UNAVAILABLE",
  0x30: "REBOOT",
  0x31: "UNBALANCED",
  0x42: "COMMAND_SIZE",
  0x43: "COMMAND_CODE",
  0x44: "AUTHSIZE",
  0x45: "AUTH_CONTEXT",
  0x46: "NV_RANGE",
  0x47: "NV_SIZE",
  0x48: "NV_LOCKED",
  0x49: "NV_AUTHORIZATION",
  0x4a: "NV_UNINITIALIZED",
  0x4b: "NV_SPACE",
  0x4c: "NV_DEFINED",
  0x50: "BAD_CONTEXT",
  0x51: "CPHASH",
  0x52: "PARENT",
  0x53: "NEEDS_TEST",
  0x54: "NO_RESULT",
  0x55: "SENSITIVE",
};

/** Warnings (RC_WARN = 0x900 + n). */
const WARN: Record<number, string> = {
  0x01: "CONTEXT_GAP",
  0x02: "OBJECT_MEMORY",
  0x03: "SESSION_MEMORY",
  0x04: "MEMORY",
  0x05: "SESSION_HANDLES",
  0x06: "OBJECT_HANDLES",
  0x07: "LOCALITY",
  0x08: "YIELDED",
  0x09: "CANCELED",
  0x0a: "TESTING",
  0x20: "NV_RATE",
  0x21: "LOCKOUT",
  0x22: "RETRY",
  0x23: "NV_UNAVAILABLE",
};

/** `TPM_RC_<NAME>` of a response code (`TPM_RC_0x…` when unknown). */
export function rcName(rc: number): string {
  let name: string | undefined;
  if (rc & 0x80) name = FMT1[rc & 0x3f];
  else if ((rc & 0xf00) === 0x900) name = WARN[rc & 0x7f];
  else if ((rc & 0xf00) === 0x100) name = VER1[rc & 0x7f];
  return name ? `TPM_RC_${name}` : `TPM_RC_0x${rc.toString(16)}`;
}

/** A TPM command that returned a non-zero response code. */
export class TpmError extends Error {
  /** `command` is the TPM2_* name, `rc` the raw response code. */
  constructor(readonly command: string, readonly rc: number) {
    super(`${command}: ${rcName(rc)} (0x${rc.toString(16)})`);
    this.name = "TpmError";
  }

  /** The format-one error number or the format-zero code without parameter/handle bits. */
  get base(): number {
    return this.rc & 0x80 ? (this.rc & 0xbf) : this.rc;
  }
}
