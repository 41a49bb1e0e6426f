/**
 * kexec_file_load(2) through libc FFI: the kernel (and initrd) go into memfds, the command line
 * is passed as a NUL-terminated string. With KEXEC_SIG the kernel verifies the image's signature
 * against the platform keyring, so only signed kernels can be staged. The power action itself
 * (`reboot(LINUX_REBOOT_CMD_KEXEC)`) is PID 1's (node/base/sys/power.ts).
 * @module
 */
import { check } from "../sys/errno.ts";
import { cstr, lazyLibc } from "../sys/libc.ts";
import { type UkiParts, ukiParts } from "./pe.ts";

/** `__NR_kexec_file_load` on x86_64. */
export const SYS_KEXEC_FILE_LOAD = 320n;
/** KEXEC_FILE_NO_INITRAMFS. */
export const KEXEC_FILE_NO_INITRAMFS = 0x4n;

const MFD_CLOEXEC = 1;

const libc = lazyLibc({
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "u64"], result: "i64" },
  close: { parameters: ["i32"], result: "i32" },
  syscall: { parameters: ["i64", "i64", "i64", "u64", "buffer", "u64"], result: "i64" },
});

function memfd(name: string, data: Uint8Array): number {
  const sym = libc();
  const fd = check(sym, sym.memfd_create(cstr(name), MFD_CLOEXEC), "memfd_create", name);
  let off = 0;
  while (off < data.length) {
    const chunk = data.subarray(off, Math.min(data.length, off + (1 << 30)));
    const n = check(
      sym,
      sym.write(fd, chunk as Uint8Array<ArrayBuffer>, BigInt(chunk.length)),
      "write",
      name,
    );
    off += n;
  }
  return fd;
}

/** Stages `parts` for the next kexec reboot. */
export function kexecFileLoad(parts: UkiParts): void {
  const sym = libc();
  const kfd = memfd("kernel", parts.linux);
  const ifd = parts.initrd ? memfd("initrd", parts.initrd) : -1;
  try {
    const cmd = cstr(parts.cmdline);
    check(
      sym,
      sym.syscall(
        SYS_KEXEC_FILE_LOAD,
        BigInt(kfd),
        BigInt(ifd),
        BigInt(cmd.length),
        cmd,
        parts.initrd ? 0n : KEXEC_FILE_NO_INITRAMFS,
      ),
      "kexec_file_load",
      parts.cmdline.slice(0, 60),
    );
  } finally {
    sym.close(kfd);
    if (ifd >= 0) sym.close(ifd);
  }
}

/** Stages the kernel and command line of the UKI at `path`. */
export async function kexecLoadUki(path: string): Promise<void> {
  kexecFileLoad(ukiParts(await Deno.readFile(path)));
}
