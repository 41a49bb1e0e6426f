/**
 * Device-mapper through its ioctl interface: a pure codec for `struct dm_ioctl`, request
 * builders, `crypt`/`integrity`/`verity` table builders, the dm-integrity superblock, and the FFI
 * control device.
 * @module
 */
export * from "./ioctl.ts";
export * from "./codec.ts";
export * from "./requests.ts";
export * from "./targets.ts";
export * from "./control.ts";
export * from "./integrity_sb.ts";
