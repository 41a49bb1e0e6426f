/**
 * Errors of the CLI and their exit codes (metroctl.md §1): usage errors exit 2, operation
 * failures exit 1; both print exactly one line `metroctl: <what failed>: <cause>`.
 */
import * as grpc from "@grpc/grpc-js";

/** A usage error (unknown command or flag, wrong arguments, invalid flag value): exit 2. */
export class UsageError extends Error {
  /** `message` is the full text after `metroctl: `; `command` is named in the help hint. */
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

/** An operation failure with a prepared one-line message: exit 1. */
export class CliError extends Error {}

/** True for a grpc-js ServiceError (has a numeric status code). */
export function isServiceError(e: unknown): e is grpc.ServiceError {
  return typeof e === "object" && e !== null && typeof (e as grpc.ServiceError).code === "number" &&
    "details" in e;
}

/** `CODE_NAME: server message` for gRPC errors, the message for anything else. */
export function describeError(e: unknown): string {
  if (isServiceError(e)) {
    const name = grpc.status[e.code] ?? `code ${e.code}`;
    return `${name}: ${e.details || e.message}`;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Wraps `fn`, prefixing any failure with `what` (`<what>: <cause>`). */
export async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof UsageError || e instanceof CliError) throw e;
    throw new CliError(`${what}: ${describeError(e)}`);
  }
}

/** The one stderr line and exit code for a failure escaping a command. */
export function failure(e: unknown): { line: string; code: number } {
  if (e instanceof UsageError) {
    const hint = e.command !== undefined
      ? ` (see 'metroctl ${e.command} --help')`.replace(
        "metroctl  ",
        "metroctl ",
      )
      : "";
    return { line: `metroctl: ${e.message}${hint}`, code: 2 };
  }
  return { line: `metroctl: ${describeError(e).replaceAll("\n", " ")}`, code: 1 };
}
