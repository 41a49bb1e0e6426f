/**
 * A pure codec for `struct dm_ioctl` and the `struct dm_target_spec` records that follow it
 * (`<linux/dm-ioctl.h>`). Requests are built here and handed to the ioctl unchanged; replies are
 * kernel memory we decode defensively anyway (a bad length must be an error, not an
 * out-of-bounds read or an endless loop).
 *
 * Layout of `struct dm_ioctl` (312 bytes, x86_64):
 *   0 version[3] u32 · 12 data_size · 16 data_start · 20 target_count · 24 open_count (s32)
 *   · 28 flags · 32 event_nr · 36 padding · 40 dev u64 · 48 name[128] · 176 uuid[129] · 305 data[7]
 * `struct dm_target_spec` (40 bytes): 0 sector_start u64 · 8 length u64 · 16 status s32
 *   · 20 next u32 · 24 target_type[16], then the NUL-terminated parameter string.
 * @module
 */
import { DM_FLAG, DM_IOCTL_SIZE, DM_VERSION } from "./ioctl.ts";

/** `DM_NAME_LEN`, `DM_UUID_LEN`, `DM_MAX_TYPE_NAME` (each including the NUL). */
export const DM_NAME_LEN = 128;
export const DM_UUID_LEN = 129;
export const DM_MAX_TYPE_NAME = 16;
/** `sizeof(struct dm_target_spec)`. */
export const DM_TARGET_SPEC_SIZE = 40;
/** Target records are 8-byte aligned (the kernel's `align_ptr`, libdevmapper's ALIGNMENT). */
const ALIGN = 8;

const OFF = {
  version: 0,
  dataSize: 12,
  dataStart: 16,
  targetCount: 20,
  openCount: 24,
  flags: 28,
  eventNr: 32,
  dev: 40,
  name: 48,
  uuid: 176,
} as const;

/** The decoded header of a `struct dm_ioctl`. */
export interface DmIoctlHeader {
  version: [number, number, number];
  dataSize: number;
  dataStart: number;
  targetCount: number;
  openCount: number;
  flags: number;
  eventNr: number;
  /** The kernel's `huge_encode_dev` form; see {@link decodeDev}. */
  dev: bigint;
  name: string;
  uuid: string;
}

/** One line of a device-mapper table: sectors `start`..`start+length` mapped by `type`. */
export interface DmTarget {
  /** First sector (512-byte units) of the mapped device this target covers. */
  start: number;
  /** Length in 512-byte sectors. */
  length: number;
  /** Target type, e.g. `"crypt"`. */
  type: string;
  /** The target's parameter string (the rest of the `dmsetup table` line). */
  params: string;
}

/** A target as reported by DM_TABLE_STATUS, with the kernel's per-target status code. */
export interface DmTargetStatus extends DmTarget {
  status: number;
}

/** A reply or request the codec refuses; the message says which field is wrong. */
export class DmCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DmCodecError";
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: false });

const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** Writes `s` NUL-terminated into `field` bytes at `off`, refusing what would not fit. */
function putString(buf: Uint8Array, off: number, field: number, s: string, what: string): void {
  const b = enc.encode(s);
  if (b.includes(0)) throw new DmCodecError(`${what} contains a NUL byte`);
  if (b.length >= field) {
    throw new DmCodecError(`${what} is ${b.length} bytes; at most ${field - 1} fit`);
  }
  buf.set(b, off);
}

/** Reads a NUL-terminated string from a fixed field; a field without NUL is malformed. */
function getString(buf: Uint8Array, off: number, field: number, what: string): string {
  const f = buf.subarray(off, off + field);
  const nul = f.indexOf(0);
  if (nul < 0) throw new DmCodecError(`${what} is not NUL-terminated`);
  return dec.decode(f.subarray(0, nul));
}

/**
 * Checks a device name the way the kernel's `check_name` does, so a bad name fails here with a
 * message instead of as a bare EINVAL from the ioctl.
 */
export function checkDeviceName(name: string): void {
  if (name === "" || name === "." || name === ".." || name === "control") {
    throw new DmCodecError(`invalid device-mapper name ${JSON.stringify(name)}`);
  }
  if (name.includes("/")) {
    throw new DmCodecError(`device-mapper name ${JSON.stringify(name)} contains '/'`);
  }
}

/** What a request carries besides targets. */
export interface DmRequestFields {
  /** Device name (most commands identify the device by it). */
  name?: string;
  /** Device UUID (set at DM_DEV_CREATE). */
  uuid?: string;
  flags?: number;
  /** dev_t for DM_PERSISTENT_DEV_FLAG (encoded with {@link encodeDev}). */
  dev?: bigint;
  eventNr?: number;
}

/**
 * Encodes a `struct dm_ioctl` request followed by `targets` (for DM_TABLE_LOAD). The buffer is
 * at least `bufferSize` bytes and `data_size` says so: the kernel writes its reply (status
 * lines, etc.) into the same buffer, up to `data_size`.
 */
export function encodeRequest(
  fields: DmRequestFields,
  targets: readonly DmTarget[] = [],
  bufferSize = DM_IOCTL_SIZE,
): Uint8Array<ArrayBuffer> {
  if (fields.name !== undefined) checkDeviceName(fields.name);
  const specs = targets.map(encodeTargetSpec);
  const payload = specs.reduce((s, b) => s + b.length, 0);
  const dataStart = align(DM_IOCTL_SIZE);
  const size = Math.max(dataStart + payload, bufferSize);
  if (size > 0xffffffff) throw new DmCodecError(`request of ${size} bytes is too large`);
  const buf = new Uint8Array(size);
  const v = new DataView(buf.buffer);
  DM_VERSION.forEach((x, i) => v.setUint32(OFF.version + 4 * i, x, true));
  v.setUint32(OFF.dataSize, size, true);
  v.setUint32(OFF.dataStart, dataStart, true);
  v.setUint32(OFF.targetCount, targets.length, true);
  v.setUint32(OFF.flags, fields.flags ?? 0, true);
  v.setUint32(OFF.eventNr, fields.eventNr ?? 0, true);
  v.setBigUint64(OFF.dev, fields.dev ?? 0n, true);
  if (fields.name !== undefined) putString(buf, OFF.name, DM_NAME_LEN, fields.name, "name");
  if (fields.uuid !== undefined) putString(buf, OFF.uuid, DM_UUID_LEN, fields.uuid, "uuid");
  let off = dataStart;
  for (const s of specs) {
    buf.set(s, off);
    off += s.length;
  }
  return buf;
}

/**
 * Encodes one target record: spec, parameters, NUL, padding to 8. For a table load `next` is
 * the offset from this record to the following one (the kernel's `next_target`), i.e. the
 * record's own padded length.
 */
export function encodeTargetSpec(t: DmTarget): Uint8Array {
  checkSector(t.start, "target start");
  checkSector(t.length, "target length");
  if (t.length === 0) throw new DmCodecError(`target ${t.type} has length 0`);
  const params = enc.encode(t.params);
  if (params.includes(0)) throw new DmCodecError(`parameters of ${t.type} contain a NUL byte`);
  const len = align(DM_TARGET_SPEC_SIZE + params.length + 1);
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(t.start), true);
  v.setBigUint64(8, BigInt(t.length), true);
  v.setUint32(20, len, true);
  putString(b, 24, DM_MAX_TYPE_NAME, t.type, "target type");
  b.set(params, DM_TARGET_SPEC_SIZE);
  return b;
}

function checkSector(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new DmCodecError(`${what} ${n} is not a sector count`);
  }
}

/** Decodes the header of a reply; `buf` must be the whole buffer handed to the ioctl. */
export function decodeHeader(buf: Uint8Array): DmIoctlHeader {
  if (buf.length < DM_IOCTL_SIZE) {
    throw new DmCodecError(`reply of ${buf.length} bytes is shorter than struct dm_ioctl`);
  }
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version: [number, number, number] = [
    v.getUint32(0, true),
    v.getUint32(4, true),
    v.getUint32(8, true),
  ];
  return {
    version,
    dataSize: v.getUint32(OFF.dataSize, true),
    dataStart: v.getUint32(OFF.dataStart, true),
    targetCount: v.getUint32(OFF.targetCount, true),
    openCount: v.getInt32(OFF.openCount, true),
    flags: v.getUint32(OFF.flags, true),
    eventNr: v.getUint32(OFF.eventNr, true),
    dev: v.getBigUint64(OFF.dev, true),
    name: getString(buf, OFF.name, DM_NAME_LEN, "name"),
    uuid: getString(buf, OFF.uuid, DM_UUID_LEN, "uuid"),
  };
}

/**
 * Decodes the target records of a DM_TABLE_STATUS reply. In replies (the kernel's
 * `retrieve_status`) each `next` is an offset from the start of the data area, not from the
 * record as in requests. Every record must lie inside `data_size` and the buffer, and `next`
 * must move forward.
 */
export function decodeTargets(buf: Uint8Array, h = decodeHeader(buf)): DmTargetStatus[] {
  if (h.flags & DM_FLAG.BUFFER_FULL) {
    throw new DmCodecError("reply truncated (DM_BUFFER_FULL_FLAG): retry with a larger buffer");
  }
  const end = Math.min(h.dataSize, buf.length);
  if (h.dataStart < DM_IOCTL_SIZE || h.dataStart > end) {
    throw new DmCodecError(`data_start ${h.dataStart} outside ${DM_IOCTL_SIZE}..${end}`);
  }
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: DmTargetStatus[] = [];
  let rel = 0;
  for (let i = 0; i < h.targetCount; i++) {
    const off = h.dataStart + rel;
    if (off + DM_TARGET_SPEC_SIZE > end) {
      throw new DmCodecError(`target ${i} at ${off} runs past the reply (${end} bytes)`);
    }
    const params = buf.subarray(off + DM_TARGET_SPEC_SIZE, end);
    const nul = params.indexOf(0);
    if (nul < 0) throw new DmCodecError(`parameters of target ${i} are not NUL-terminated`);
    const start = v.getBigUint64(off, true);
    const length = v.getBigUint64(off + 8, true);
    if (start > BigInt(Number.MAX_SAFE_INTEGER) || length > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new DmCodecError(`target ${i} sector range is out of range`);
    }
    out.push({
      start: Number(start),
      length: Number(length),
      status: v.getInt32(off + 16, true),
      type: getString(buf, off + 24, DM_MAX_TYPE_NAME, `target ${i} type`),
      params: dec.decode(params.subarray(0, nul)),
    });
    const next = v.getUint32(off + 20, true);
    if (i + 1 < h.targetCount && next <= rel) {
      throw new DmCodecError(`target ${i} next offset ${next} does not advance`);
    }
    rel = next;
  }
  return out;
}

/** Splits the kernel's `huge_encode_dev` form into major and minor. */
export function decodeDev(dev: bigint): { major: number; minor: number } {
  const d = Number(dev & 0xffffffffn);
  return { major: (d & 0xfff00) >>> 8, minor: (d & 0xff) | ((d >>> 12) & 0xfff00) };
}

/** The inverse of {@link decodeDev} (`new_encode_dev`). */
export function encodeDev(major: number, minor: number): bigint {
  return BigInt(((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0);
}
