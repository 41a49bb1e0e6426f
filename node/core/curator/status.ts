/**
 * gRPC status errors raised by curator logic. Service functions throw {@link StatusError}; the
 * gRPC layer turns it into the call's status. Anything else thrown is a bug or a storage failure
 * and becomes UNAVAILABLE (node.md §12.10: "Storage errors → UNAVAILABLE").
 */
import { status } from "@grpc/grpc-js";

export { status as Code };

/** An error carrying the gRPC status code the caller gets. */
export class StatusError extends Error {
  /** The gRPC status code. */
  readonly code: status;

  /** `code` is a grpc-js `status` value; `message` is one line for the caller. */
  constructor(code: status, message: string) {
    super(message);
    this.code = code;
    this.name = "StatusError";
  }
}

/** Shorthands for the codes the curator uses. */
export const invalid = (m: string) => new StatusError(status.INVALID_ARGUMENT, m);
/** NOT_FOUND. */
export const notFound = (m: string) => new StatusError(status.NOT_FOUND, m);
/** FAILED_PRECONDITION. */
export const failedPrecondition = (m: string) => new StatusError(status.FAILED_PRECONDITION, m);
/** PERMISSION_DENIED. */
export const permissionDenied = (m: string) => new StatusError(status.PERMISSION_DENIED, m);
/** UNAUTHENTICATED. */
export const unauthenticated = (m: string) => new StatusError(status.UNAUTHENTICATED, m);
/** UNAVAILABLE. */
export const unavailable = (m: string) => new StatusError(status.UNAVAILABLE, m);
/** UNIMPLEMENTED. */
export const unimplemented = (m: string) => new StatusError(status.UNIMPLEMENTED, m);
/** RESOURCE_EXHAUSTED. */
export const resourceExhausted = (m: string) => new StatusError(status.RESOURCE_EXHAUSTED, m);
/** CANCELLED. */
export const cancelled = (m: string) => new StatusError(status.CANCELLED, m);
/** DEADLINE_EXCEEDED. */
export const deadlineExceeded = (m: string) => new StatusError(status.DEADLINE_EXCEEDED, m);
/** OUT_OF_RANGE. */
export const outOfRange = (m: string) => new StatusError(status.OUT_OF_RANGE, m);

/** Maps any thrown value to a StatusError (non-status errors become UNAVAILABLE). */
export function toStatusError(e: unknown): StatusError {
  if (e instanceof StatusError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return unavailable(`storage or internal error: ${msg.split("\n")[0]}`);
}
