/** getrlimit(2)/setrlimit(2) through libc. Infinity stands for RLIM_INFINITY. */
import { lazyLibc } from "./libc.ts";
import { check } from "./errno.ts";

/** Resource numbers (`<sys/resource.h>`, Linux x86_64). */
export const RLIMIT = {
  CPU: 0,
  FSIZE: 1,
  DATA: 2,
  STACK: 3,
  CORE: 4,
  NPROC: 6,
  NOFILE: 7,
  MEMLOCK: 8,
  AS: 9,
} as const;

/** A soft/hard limit pair; `Infinity` means RLIM_INFINITY. */
export interface Rlimit {
  /** The soft (current) limit. */
  soft: number;
  /** The hard (maximum) limit. */
  hard: number;
}

const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

const libc = lazyLibc({
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
});

function resourceName(resource: number): string {
  for (const [k, v] of Object.entries(RLIMIT)) if (v === resource) return `RLIMIT_${k}`;
  return String(resource);
}

/** Returns the limits of `resource` (see {@link RLIMIT}). Throws {@link SysError}. */
export function getrlimit(resource: number): Rlimit {
  const buf = new BigUint64Array(2);
  const s = libc();
  check(s, s.getrlimit(resource, new Uint8Array(buf.buffer)), "getrlimit", resourceName(resource));
  const conv = (v: bigint) => (v === RLIM_INFINITY ? Infinity : Number(v));
  return { soft: conv(buf[0]), hard: conv(buf[1]) };
}

/** Sets the limits of `resource`. Throws {@link SysError} (EPERM, EINVAL) or on bad numbers. */
export function setrlimit(resource: number, limit: Rlimit): void {
  const conv = (v: number, what: string) => {
    if (v === Infinity) return RLIM_INFINITY;
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new TypeError(`${what} limit must be a non-negative integer or Infinity, got ${v}`);
    }
    return BigInt(v);
  };
  const buf = new BigUint64Array([conv(limit.soft, "soft"), conv(limit.hard, "hard")]);
  const s = libc();
  check(s, s.setrlimit(resource, new Uint8Array(buf.buffer)), "setrlimit", resourceName(resource));
}
