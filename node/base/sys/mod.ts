/**
 * libc FFI for the agent (architecture.md §6, `node/base/sys`). Every function opens libc lazily,
 * so importing this module needs no `--allow-ffi`; failures throw {@link SysError}.
 */
export { ERRNO_NAMES, errnoName, SysError } from "./errno.ts";
export { LIBC_ABSOLUTE, libcPath } from "./libc.ts";
export { MNT, mount, MS, umount } from "./mount.ts";
export { RB, reboot, sync } from "./power.ts";
export { sethostname } from "./hostname.ts";
export { MALLOC_TRIM_INTERVAL_MS, mallocTrim, trimMallocPeriodically } from "./malloc.ts";
export { getrlimit, RLIMIT, type Rlimit, setrlimit } from "./rlimit.ts";
export {
  decodeWaitStatus,
  getpid,
  kill,
  P,
  umask,
  W,
  waitid,
  waitpid,
  type WaitResult,
} from "./process.ts";
export { signalName, signalNumber, SIGNALS } from "./signals.ts";
