/**
 * UEFI device paths (UEFI spec 2.10 §10.3) as far as boot entries need them: the hard drive
 * media node (GPT partition by unique GUID), the file path media node and the end node; other
 * nodes are kept as raw bytes so entries written by firmware round-trip unchanged. Input from
 * efivarfs is firmware data, so every length is checked before use.
 * @module
 */
import { decodeGuid, encodeGuid } from "../blockdev/guid.ts";

/** A GPT partition on a hard drive (media type 4, subtype 1). */
export interface HardDriveNode {
  kind: "hd";
  partitionNumber: number;
  /** Start and size in logical blocks. */
  startLba: bigint;
  sizeLba: bigint;
  /** Unique partition GUID (lower case). */
  partitionGuid: string;
}

/** A file path (media type 4, subtype 4), `\`-separated as UEFI wants it. */
export interface FilePathNode {
  kind: "file";
  path: string;
}

/** Any other node, kept as it was. */
export interface RawNode {
  kind: "raw";
  type: number;
  subType: number;
  data: Uint8Array;
}

export type DevicePathNode = HardDriveNode | FilePathNode | RawNode;

/** A device path instance (the end node is implicit). */
export type DevicePath = DevicePathNode[];

/** The device path is malformed. */
export class DevicePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DevicePathError";
  }
}

const MEDIA = 4;
const HD = 1;
const FILE = 4;
const END = 0x7f;
const END_ENTIRE = 0xff;

/** UCS-2 little endian with a terminating NUL. */
export function encodeUcs2(s: string): Uint8Array {
  if (s.includes("\0")) throw new DevicePathError("string contains NUL");
  const b = new Uint8Array(2 * s.length + 2);
  const v = new DataView(b.buffer);
  for (let i = 0; i < s.length; i++) v.setUint16(2 * i, s.charCodeAt(i), true);
  return b;
}

/** Decodes UCS-2 LE up to the first NUL (or the end); returns the string and bytes consumed. */
export function decodeUcs2(b: Uint8Array): { text: string; bytes: number } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let s = "";
  for (let i = 0; i + 1 < b.length; i += 2) {
    const c = v.getUint16(i, true);
    if (c === 0) return { text: s, bytes: i + 2 };
    s += String.fromCharCode(c);
  }
  throw new DevicePathError("string is not NUL-terminated");
}

function node(type: number, subType: number, data: Uint8Array): Uint8Array {
  const len = 4 + data.length;
  if (len > 0xffff) throw new DevicePathError(`device path node of ${len} bytes is too long`);
  const b = new Uint8Array(len);
  b[0] = type;
  b[1] = subType;
  new DataView(b.buffer).setUint16(2, len, true);
  b.set(data, 4);
  return b;
}

/** Encodes a device path including its end node. */
export function encodeDevicePath(p: DevicePath): Uint8Array {
  const parts = p.map((n) => {
    switch (n.kind) {
      case "hd": {
        const d = new Uint8Array(38);
        const v = new DataView(d.buffer);
        v.setUint32(0, n.partitionNumber, true);
        v.setBigUint64(4, n.startLba, true);
        v.setBigUint64(12, n.sizeLba, true);
        d.set(encodeGuid(n.partitionGuid), 20);
        d[36] = 2; // MBRType: GPT
        d[37] = 2; // SignatureType: GUID
        return node(MEDIA, HD, d);
      }
      case "file":
        return node(MEDIA, FILE, encodeUcs2(n.path));
      case "raw":
        return node(n.type, n.subType, n.data);
    }
  });
  parts.push(node(END, END_ENTIRE, new Uint8Array(0)));
  const out = new Uint8Array(parts.reduce((s, b) => s + b.length, 0));
  let off = 0;
  for (const b of parts) {
    out.set(b, off);
    off += b.length;
  }
  return out;
}

/** Decodes one device path instance; returns it and the bytes after its end node. */
export function decodeDevicePath(b: Uint8Array): { path: DevicePath; rest: Uint8Array } {
  const out: DevicePath = [];
  let off = 0;
  for (;;) {
    if (off + 4 > b.length) throw new DevicePathError("device path ends without an end node");
    const type = b[off];
    const subType = b[off + 1];
    const len = b[off + 2] | (b[off + 3] << 8);
    if (len < 4 || off + len > b.length) {
      throw new DevicePathError(`device path node at ${off} has invalid length ${len}`);
    }
    const data = b.subarray(off + 4, off + len);
    off += len;
    if (type === END && subType === END_ENTIRE) return { path: out, rest: b.subarray(off) };
    if (
      type === MEDIA && subType === HD && data.length === 38 && data[36] === 2 && data[37] === 2
    ) {
      const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
      out.push({
        kind: "hd",
        partitionNumber: v.getUint32(0, true),
        startLba: v.getBigUint64(4, true),
        sizeLba: v.getBigUint64(12, true),
        partitionGuid: decodeGuid(data, 20),
      });
    } else if (type === MEDIA && subType === FILE) {
      out.push({ kind: "file", path: decodeUcs2(data).text });
    } else {
      out.push({ kind: "raw", type, subType, data: data.slice() });
    }
  }
}
