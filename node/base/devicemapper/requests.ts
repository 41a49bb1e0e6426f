/**
 * Request builders for the commands the node uses: create, load, resume/suspend, remove,
 * table status. Each returns the command and the encoded buffer; {@link ./control.ts} sends it.
 * @module
 */
import { type DmTarget, encodeRequest } from "./codec.ts";
import { DM_FLAG, type DmCommand } from "./ioctl.ts";

/** An encoded request: which ioctl and the `struct dm_ioctl` buffer to pass. */
export interface DmRequest {
  cmd: DmCommand;
  buf: Uint8Array<ArrayBuffer>;
}

/** Default reply buffer for commands that return data (libdevmapper uses the same 16 KiB). */
export const REPLY_BUFFER = 16 * 1024;

/** DM_VERSION: asks the kernel for its interface version. */
export function versionRequest(): DmRequest {
  return { cmd: "VERSION", buf: encodeRequest({}) };
}

/** DM_DEV_CREATE: a new, table-less device `name` (optionally with a UUID). */
export function createRequest(name: string, opts: { uuid?: string } = {}): DmRequest {
  return { cmd: "DEV_CREATE", buf: encodeRequest({ name, uuid: opts.uuid }) };
}

/**
 * DM_TABLE_LOAD: loads `targets` as the inactive table of `name`. DM_SECURE_DATA_FLAG is always
 * set: crypt tables carry keys, and the flag makes the kernel wipe its copy of the buffer.
 */
export function loadRequest(
  name: string,
  targets: readonly DmTarget[],
  opts: { readOnly?: boolean } = {},
): DmRequest {
  if (targets.length === 0) throw new RangeError(`table for ${name} has no targets`);
  const flags = DM_FLAG.SECURE_DATA | (opts.readOnly ? DM_FLAG.READONLY : 0);
  return { cmd: "TABLE_LOAD", buf: encodeRequest({ name, flags }, targets) };
}

/** DM_DEV_SUSPEND without DM_SUSPEND_FLAG: resume, i.e. make the loaded table live. */
export function resumeRequest(name: string): DmRequest {
  return { cmd: "DEV_SUSPEND", buf: encodeRequest({ name }) };
}

/** DM_DEV_SUSPEND with DM_SUSPEND_FLAG: stop I/O to `name` (flushing first). */
export function suspendRequest(name: string): DmRequest {
  return { cmd: "DEV_SUSPEND", buf: encodeRequest({ name, flags: DM_FLAG.SUSPEND }) };
}

/** DM_DEV_REMOVE: removes `name` (fails with EBUSY while it is open or mounted). */
export function removeRequest(name: string): DmRequest {
  return { cmd: "DEV_REMOVE", buf: encodeRequest({ name }) };
}

/**
 * DM_TABLE_STATUS for `name`: `"table"` returns the loaded table lines (what `dmsetup table`
 * prints), `"status"` the targets' status lines. Crypt keys in a table reply are wiped by the
 * kernel only if the caller asked with DM_SECURE_DATA_FLAG, so table queries set it.
 */
export function statusRequest(
  name: string,
  kind: "table" | "status",
  bufferSize = REPLY_BUFFER,
): DmRequest {
  const flags = kind === "table" ? DM_FLAG.STATUS_TABLE | DM_FLAG.SECURE_DATA : 0;
  return { cmd: "TABLE_STATUS", buf: encodeRequest({ name, flags }, [], bufferSize) };
}
