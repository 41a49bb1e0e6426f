/**
 * Typed errors for failed libc calls: {@link SysError} carries errno, its symbolic code and the
 * call that failed, with a one-line message such as
 * `mount("/mnt/x"): ENOENT: No such file or directory`.
 */
import { type LibcSymbols, readErrno, strerrorOf } from "./libc.ts";

/** Symbolic names of Linux x86_64 errno values. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  15: "ENOTBLK",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  31: "EMLINK",
  32: "EPIPE",
  33: "EDOM",
  34: "ERANGE",
  35: "EDEADLK",
  36: "ENAMETOOLONG",
  37: "ENOLCK",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
  61: "ENODATA",
  95: "EOPNOTSUPP",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  114: "EALREADY",
  115: "EINPROGRESS",
};

/** Returns the symbolic name of an errno value (`E<n>` when unknown). */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/** A failed system call: errno, its code (`"ENOENT"`), the call and the argument it was about. */
export class SysError extends Error {
  /** The numeric errno. */
  readonly errno: number;
  /** The symbolic errno, e.g. `"EPERM"`. */
  readonly code: string;
  /** The libc function that failed, e.g. `"mount"`. */
  readonly syscall: string;
  /** The path or argument the call was about (as shown in the message). */
  readonly arg: string;

  /** Builds the error; `description` is strerror's text. */
  constructor(syscall: string, arg: string, errno: number, description: string) {
    const code = errnoName(errno);
    super(`${syscall}(${arg}): ${code}: ${description}`);
    this.name = "SysError";
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
    this.arg = arg;
  }
}

/**
 * Reads errno from `sym` and returns the matching {@link SysError}. Call it immediately after
 * the failing call, before anything else that could touch errno.
 */
export function lastError(
  sym: LibcSymbols<Deno.ForeignLibraryInterface>,
  syscall: string,
  arg: string,
): SysError {
  const errno = readErrno(sym);
  return new SysError(syscall, arg, errno, strerrorOf(sym, errno));
}

/** Throws the current errno as a {@link SysError} when `ret` is -1; returns `ret` otherwise. */
export function check(
  sym: LibcSymbols<Deno.ForeignLibraryInterface>,
  ret: number | bigint,
  syscall: string,
  arg: string,
): number {
  if (Number(ret) === -1) throw lastError(sym, syscall, arg);
  return Number(ret);
}
