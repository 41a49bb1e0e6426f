/**
 * Loop devices for a namespace node's `/data` image (node.md §3, §8.3; testing.md §2.2), through
 * `/dev/loop-control` and loop ioctls via FFI (no losetup: the agent needs no helper binary).
 *
 * A device is attached with `LO_FLAGS_AUTOCLEAR`: the kernel detaches it when its last user goes
 * away (the XFS mount at `/data`, which ends with the node's mount namespace), so a node that
 * dies, however it dies, leaves no loop device behind.
 */
import { cstr, lazyLibc } from "../../base/sys/libc.ts";
import { check, SysError } from "../../base/sys/errno.ts";

/** Loop ioctls and flags (`<linux/loop.h>`). */
export const LOOP = {
  SET_FD: 0x4C00,
  CLR_FD: 0x4C01,
  SET_STATUS64: 0x4C04,
  CONFIGURE: 0x4C0A,
  CTL_GET_FREE: 0x4C82,
  FLAGS_AUTOCLEAR: 4,
} as const;

/** `sizeof(struct loop_info64)`. */
export const LOOP_INFO64_SIZE = 232;
/** `sizeof(struct loop_config)`: fd, block_size, loop_info64 (8-aligned), 8 reserved u64. */
export const LOOP_CONFIG_SIZE = 8 + LOOP_INFO64_SIZE + 64;
/** Offsets inside `struct loop_info64`. */
const INFO = { flags: 52, fileName: 56, fileNameLen: 64 } as const;

/** Encodes a `struct loop_info64` with `lo_flags` and (truncated, NUL-terminated) `lo_file_name`. */
export function encodeLoopInfo64(flags: number, fileName = ""): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(LOOP_INFO64_SIZE);
  new DataView(b.buffer).setUint32(INFO.flags, flags, true);
  const name = new TextEncoder().encode(fileName).subarray(0, INFO.fileNameLen - 1);
  b.set(name, INFO.fileName);
  return b;
}

/** Encodes a `struct loop_config` for `LOOP_CONFIGURE` (block size 0 = the kernel's default). */
export function encodeLoopConfig(
  fd: number,
  flags: number,
  fileName = "",
): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(LOOP_CONFIG_SIZE);
  new DataView(b.buffer).setUint32(0, fd, true);
  b.set(encodeLoopInfo64(flags, fileName), 8);
  return b;
}

/** Whether `head` (the first bytes of a device or image) starts with an XFS superblock. */
export function hasXfsSuperblock(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x58 && head[1] === 0x46 && head[2] === 0x53 &&
    head[3] === 0x42; // "XFSB"
}

const O_RDWR = 2;
const O_CLOEXEC = 0o2000000;

const libc = lazyLibc({
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ioctl_int: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  ioctl_ptr: { name: "ioctl", parameters: ["i32", "u64", "buffer"], result: "i32" },
});

function open(path: string): number {
  const s = libc();
  return check(s, s.open(cstr(path), O_RDWR | O_CLOEXEC), "open", JSON.stringify(path));
}

function close(fd: number): void {
  libc().close(fd);
}

/** A loop device attached by {@link attachLoop}, held open until {@link LoopDevice.release}. */
export interface LoopDevice {
  /** `/dev/loop<N>`. */
  path: string;
  /** N. */
  number: number;
  /**
   * Closes the agent's descriptor. With autoclear the device stays attached only while something
   * else uses it: call this after mounting it (or to give it up when mounting failed).
   */
  release(): void;
}

/**
 * Attaches `image` (read-write) to a free loop device with `LO_FLAGS_AUTOCLEAR` and returns it,
 * still open (see {@link LoopDevice.release}). Retries when another process takes the same free
 * device first (EBUSY).
 */
export function attachLoop(image: string): LoopDevice {
  const s = libc();
  const ctl = open("/dev/loop-control");
  const file = open(image);
  try {
    for (let attempt = 0;; attempt++) {
      const n = check(
        s,
        s.ioctl_int(ctl, BigInt(LOOP.CTL_GET_FREE), 0n),
        "ioctl",
        "LOOP_CTL_GET_FREE",
      );
      const path = `/dev/loop${n}`;
      const dev = open(path);
      const ret = s.ioctl_ptr(
        dev,
        BigInt(LOOP.CONFIGURE),
        encodeLoopConfig(file, LOOP.FLAGS_AUTOCLEAR, image),
      );
      try {
        check(s, ret, "ioctl", `LOOP_CONFIGURE ${path}`);
      } catch (e) {
        close(dev);
        if (e instanceof SysError && e.code === "EBUSY" && attempt < 20) continue;
        throw e;
      }
      let open_ = true;
      const release = () => {
        if (open_) close(dev);
        open_ = false;
      };
      return { path, number: n, release };
    }
  } finally {
    close(file);
    close(ctl);
  }
}
