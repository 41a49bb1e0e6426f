/** sethostname(2) through libc. */
import { cstr, lazyLibc } from "./libc.ts";
import { check } from "./errno.ts";

const libc = lazyLibc({
  sethostname: { parameters: ["buffer", "usize"], result: "i32" },
});

/** Sets the UTS hostname (1–64 bytes). Throws {@link SysError} or a TypeError on bad input. */
export function sethostname(name: string): void {
  const b = cstr(name);
  const len = b.length - 1;
  if (len < 1 || len > 64) {
    throw new TypeError(`hostname must be 1-64 bytes, got ${len}: ${JSON.stringify(name)}`);
  }
  const s = libc();
  check(s, s.sethostname(b, BigInt(len)), "sethostname", JSON.stringify(name));
}
