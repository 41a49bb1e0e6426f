/**
 * The device-mapper control device over FFI: `ioctl(2)` on `/dev/mapper/control` with the
 * buffers of {@link ./requests.ts} (no `dmsetup`/`cryptsetup` processes on the node).
 *
 * Not exercised by unit tests: the host kernel of the test machines has no device-mapper, so
 * only the codec and request numbers are tested in tier 1. Creating, loading, resuming and
 * removing real devices belongs to the VM tier (tier 3), where the node kernel has dm-crypt,
 * dm-integrity and dm-verity.
 * @module
 */
import { cstr, lazyLibc } from "../sys/libc.ts";
import { check } from "../sys/errno.ts";
import {
  decodeDev,
  decodeHeader,
  decodeTargets,
  type DmIoctlHeader,
  type DmTarget,
  type DmTargetStatus,
} from "./codec.ts";
import { DM_FLAG, dmRequest } from "./ioctl.ts";
import {
  createRequest,
  type DmRequest,
  loadRequest,
  removeRequest,
  REPLY_BUFFER,
  resumeRequest,
  statusRequest,
  suspendRequest,
  versionRequest,
} from "./requests.ts";

/** Where the kernel's control node is (devtmpfs creates it when dm is built in or loaded). */
export const DM_CONTROL = "/dev/mapper/control";

/** The largest reply buffer we grow to when the kernel says DM_BUFFER_FULL. */
const MAX_REPLY = 1024 * 1024;

const O_RDWR = 2;
const O_CLOEXEC = 0o2000000;

const libc = lazyLibc({
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
});

/** Device-mapper is not available: the control node is missing. */
export class DeviceMapperUnavailable extends Error {
  constructor(path: string) {
    super(
      `device-mapper unavailable: ${path} does not exist (kernel without CONFIG_BLK_DEV_DM, or /dev not devtmpfs)`,
    );
    this.name = "DeviceMapperUnavailable";
  }
}

/** A device that is live: its dev_t and the devtmpfs node the kernel made for it. */
export interface DmDevice {
  name: string;
  major: number;
  minor: number;
  /** `/dev/dm-<minor>` (devtmpfs names; `/dev/mapper/<name>` links are udev's, absent here). */
  path: string;
}

/** Device-mapper operations through one control node path. */
export class DeviceMapper {
  constructor(readonly controlPath: string = DM_CONTROL) {}

  /**
   * Sends `req` and returns `read(reply header, reply buffer)`. The buffer is wiped afterwards,
   * success or not: table loads carry keys, which should not outlive the call in our heap.
   */
  #send<T>(
    req: DmRequest,
    what: string,
    read: (h: DmIoctlHeader, buf: Uint8Array) => T,
  ): T {
    try {
      Deno.statSync(this.controlPath);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new DeviceMapperUnavailable(this.controlPath);
      throw e;
    }
    const s = libc();
    const fd = check(
      s,
      s.open(cstr(this.controlPath), O_RDWR | O_CLOEXEC),
      "open",
      this.controlPath,
    );
    try {
      check(s, s.ioctl(fd, BigInt(dmRequest(req.cmd)), req.buf), "ioctl", `DM_${req.cmd} ${what}`);
      return read(decodeHeader(req.buf), req.buf);
    } finally {
      req.buf.fill(0);
      s.close(fd);
    }
  }

  /** The kernel's device-mapper interface version. */
  version(): [number, number, number] {
    return this.#send(versionRequest(), "", (h) => h.version);
  }

  /** Creates `name` without a table. */
  create(name: string, uuid?: string): DmDevice {
    return this.#send(createRequest(name, { uuid }), name, (h) => device(name, h.dev));
  }

  /** Loads `targets` as the inactive table of `name` (live after {@link resume}). */
  load(name: string, targets: readonly DmTarget[], opts: { readOnly?: boolean } = {}): void {
    this.#send(loadRequest(name, targets, opts), name, () => {});
  }

  /** Makes the loaded table of `name` live. */
  resume(name: string): DmDevice {
    return this.#send(resumeRequest(name), name, (h) => device(name, h.dev));
  }

  /** Suspends I/O to `name`. */
  suspend(name: string): void {
    this.#send(suspendRequest(name), name, () => {});
  }

  /** Removes `name`. */
  remove(name: string): void {
    this.#send(removeRequest(name), name, () => {});
  }

  /** The live table (`"table"`, like `dmsetup table`) or target status lines of `name`. */
  status(name: string, kind: "table" | "status"): DmTargetStatus[] {
    for (let size = REPLY_BUFFER;; size *= 2) {
      const targets = this.#send(
        statusRequest(name, kind, size),
        name,
        (h, buf) =>
          h.flags & DM_FLAG.BUFFER_FULL && size < MAX_REPLY ? null : decodeTargets(buf, h),
      );
      if (targets) return targets;
    }
  }

  /**
   * Creates `name`, loads `targets` and resumes it; removes the half-made device when a step
   * fails, so a retry does not trip over a leftover name.
   */
  createActive(
    name: string,
    targets: readonly DmTarget[],
    opts: { readOnly?: boolean; uuid?: string } = {},
  ): DmDevice {
    this.create(name, opts.uuid);
    try {
      this.load(name, targets, opts);
      return this.resume(name);
    } catch (e) {
      try {
        this.remove(name);
      } catch { /* the original error is the one worth reporting */ }
      throw e;
    }
  }
}

function device(name: string, dev: bigint): DmDevice {
  const { major, minor } = decodeDev(dev);
  return { name, major, minor, path: `/dev/dm-${minor}` };
}
