/**
 * EFI_LOAD_OPTION (UEFI spec 2.10 §3.1.3), the content of `Boot####` variables: attributes,
 * description, device path list and optional data. BootOrder is a list of u16 entry numbers.
 * @module
 */
import {
  decodeDevicePath,
  decodeUcs2,
  type DevicePath,
  DevicePathError,
  encodeDevicePath,
  encodeUcs2,
} from "./devicepath.ts";

/** LOAD_OPTION_ACTIVE. */
export const LOAD_OPTION_ACTIVE = 0x1;

/** A decoded boot entry. */
export interface LoadOption {
  /** Attribute bits (default {@link LOAD_OPTION_ACTIVE}). */
  attributes?: number;
  description: string;
  /** The device path of the file to load. */
  filePath: DevicePath;
  /** Further device path instances after the first (rare). */
  extraPaths?: DevicePath[];
  optionalData?: Uint8Array;
}

/** Encodes a load option. */
export function encodeLoadOption(o: LoadOption): Uint8Array {
  const desc = encodeUcs2(o.description);
  const paths = [o.filePath, ...(o.extraPaths ?? [])].map(encodeDevicePath);
  const pathLen = paths.reduce((s, p) => s + p.length, 0);
  if (pathLen > 0xffff) throw new DevicePathError("device path list longer than 65535 bytes");
  const opt = o.optionalData ?? new Uint8Array(0);
  const out = new Uint8Array(6 + desc.length + pathLen + opt.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, o.attributes ?? LOAD_OPTION_ACTIVE, true);
  v.setUint16(4, pathLen, true);
  out.set(desc, 6);
  let off = 6 + desc.length;
  for (const p of paths) {
    out.set(p, off);
    off += p.length;
  }
  out.set(opt, off);
  return out;
}

/** Decodes a load option; throws {@link DevicePathError} on malformed data. */
export function decodeLoadOption(b: Uint8Array): Required<LoadOption> {
  if (b.length < 6) throw new DevicePathError(`load option of ${b.length} bytes is too short`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const attributes = v.getUint32(0, true);
  const pathLen = v.getUint16(4, true);
  const { text: description, bytes } = decodeUcs2(b.subarray(6));
  const start = 6 + bytes;
  if (start + pathLen > b.length) {
    throw new DevicePathError(`device path list (${pathLen} bytes) overruns the load option`);
  }
  let list = b.subarray(start, start + pathLen);
  const paths: DevicePath[] = [];
  while (list.length) {
    const { path, rest } = decodeDevicePath(list);
    paths.push(path);
    list = rest;
  }
  if (!paths.length) throw new DevicePathError("load option has no device path");
  return {
    attributes,
    description,
    filePath: paths[0],
    extraPaths: paths.slice(1),
    optionalData: b.slice(start + pathLen),
  };
}

/** Encodes BootOrder. */
export function encodeBootOrder(order: number[]): Uint8Array {
  const out = new Uint8Array(2 * order.length);
  const v = new DataView(out.buffer);
  order.forEach((n, i) => v.setUint16(2 * i, n, true));
  return out;
}

/** Decodes BootOrder (an odd length is malformed). */
export function decodeBootOrder(b: Uint8Array): number[] {
  if (b.length % 2) throw new DevicePathError(`BootOrder of odd length ${b.length}`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Array.from({ length: b.length / 2 }, (_, i) => v.getUint16(2 * i, true));
}

/** `Boot0001` for entry 1. */
export function bootVariableName(n: number): string {
  return `Boot${n.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** The entry number of a `Boot####` name, or undefined. */
export function bootEntryNumber(name: string): number | undefined {
  const m = /^Boot([0-9A-F]{4})$/.exec(name);
  return m ? parseInt(m[1], 16) : undefined;
}
