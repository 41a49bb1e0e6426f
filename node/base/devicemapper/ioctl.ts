/**
 * Device-mapper ioctl request numbers and flags (`<linux/dm-ioctl.h>`), computed with the
 * generic `_IOWR` encoding (`<asm-generic/ioctl.h>`, x86_64) rather than copied as magic numbers,
 * so the size of `struct dm_ioctl` is visibly part of every request number.
 * @module
 */

/** `sizeof(struct dm_ioctl)`: 12 + 6·4 + 8 + 128 + 129 + 7 bytes of padding/data. */
export const DM_IOCTL_SIZE = 312;
/** The device-mapper ioctl type byte (`DM_IOCTL`). */
export const DM_IOCTL_TYPE = 0xfd;

const IOC_NRBITS = 8;
const IOC_TYPEBITS = 8;
const IOC_SIZEBITS = 14;
const IOC_WRITE = 1;
const IOC_READ = 2;

/** `_IOC(dir, type, nr, size)` as an unsigned 32-bit number. */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  if (nr < 0 || nr >= 1 << IOC_NRBITS || type < 0 || type >= 1 << IOC_TYPEBITS) {
    throw new RangeError(`ioctl type ${type} / nr ${nr} out of range`);
  }
  if (size < 0 || size >= 1 << IOC_SIZEBITS) throw new RangeError(`ioctl size ${size} too large`);
  const typeShift = IOC_NRBITS;
  const sizeShift = typeShift + IOC_TYPEBITS;
  const dirShift = sizeShift + IOC_SIZEBITS;
  return ((dir << dirShift) | (size << sizeShift) | (type << typeShift) | nr) >>> 0;
}

/** `_IOWR(type, nr, size)`. */
export const iowr = (type: number, nr: number, size: number): number =>
  ioc(IOC_READ | IOC_WRITE, type, nr, size);

/** Device-mapper command numbers (`DM_*_CMD`). */
export const DM_CMD = {
  VERSION: 0,
  REMOVE_ALL: 1,
  LIST_DEVICES: 2,
  DEV_CREATE: 3,
  DEV_REMOVE: 4,
  DEV_RENAME: 5,
  DEV_SUSPEND: 6,
  DEV_STATUS: 7,
  DEV_WAIT: 8,
  TABLE_LOAD: 9,
  TABLE_CLEAR: 10,
  TABLE_DEPS: 11,
  TABLE_STATUS: 12,
  LIST_VERSIONS: 13,
  TARGET_MSG: 14,
  DEV_SET_GEOMETRY: 15,
  DEV_ARM_POLL: 16,
  GET_TARGET_VERSION: 17,
} as const;

/** A device-mapper command name. */
export type DmCommand = keyof typeof DM_CMD;

/** The ioctl request number of `cmd`: `_IOWR(0xfd, cmd, struct dm_ioctl)`. */
export function dmRequest(cmd: DmCommand): number {
  return iowr(DM_IOCTL_TYPE, DM_CMD[cmd], DM_IOCTL_SIZE);
}

/** `struct dm_ioctl` flags (`DM_*_FLAG`). */
export const DM_FLAG = {
  READONLY: 1 << 0,
  SUSPEND: 1 << 1,
  PERSISTENT_DEV: 1 << 3,
  STATUS_TABLE: 1 << 4,
  ACTIVE_PRESENT: 1 << 5,
  INACTIVE_PRESENT: 1 << 6,
  BUFFER_FULL: 1 << 8,
  SKIP_BDGET: 1 << 9,
  SKIP_LOCKFS: 1 << 10,
  NOFLUSH: 1 << 11,
  QUERY_INACTIVE_TABLE: 1 << 12,
  UEVENT_GENERATED: 1 << 13,
  UUID: 1 << 14,
  SECURE_DATA: 1 << 15,
  DATA_OUT: 1 << 16,
  DEFERRED_REMOVE: 1 << 17,
  INTERNAL_SUSPEND: 1 << 18,
  IMA_MEASUREMENT: 1 << 19,
} as const;

/**
 * The interface version we speak. The kernel accepts a request when the major matches and our
 * minor is not newer than its own; 4.0.0 asks for nothing beyond the original v4 interface.
 */
export const DM_VERSION: readonly [number, number, number] = [4, 0, 0];
