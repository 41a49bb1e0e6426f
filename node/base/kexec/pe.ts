/**
 * Section extraction from a PE/COFF image (a UKI: systemd-stub with `.linux`, `.cmdline`,
 * `.initrd`, `.osrel` sections). The file comes from the ESP or a download, so headers and
 * section bounds are checked before use.
 * @module
 */

/** The PE file is malformed. */
export class PeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PeError";
  }
}

/** Returns the sections of `pe` by name (data limited to min(VirtualSize, SizeOfRawData)). */
export function peSections(pe: Uint8Array): Map<string, Uint8Array> {
  if (pe.length < 0x40 || pe[0] !== 0x4d || pe[1] !== 0x5a) throw new PeError("no MZ header");
  const v = new DataView(pe.buffer, pe.byteOffset, pe.byteLength);
  const lfanew = v.getUint32(0x3c, true);
  if (lfanew + 24 > pe.length || v.getUint32(lfanew, true) !== 0x00004550) {
    throw new PeError("no PE signature");
  }
  const count = v.getUint16(lfanew + 6, true);
  const optSize = v.getUint16(lfanew + 20, true);
  const table = lfanew + 24 + optSize;
  if (count > 96 || table + 40 * count > pe.length) {
    throw new PeError("section table out of bounds");
  }
  const out = new Map<string, Uint8Array>();
  for (let i = 0; i < count; i++) {
    const h = table + 40 * i;
    let end = h;
    while (end < h + 8 && pe[end] !== 0) end++;
    const name = new TextDecoder().decode(pe.subarray(h, end));
    const vsize = v.getUint32(h + 8, true);
    const rawSize = v.getUint32(h + 16, true);
    const ptr = v.getUint32(h + 20, true);
    const size = Math.min(vsize || rawSize, rawSize);
    if (ptr + size > pe.length) throw new PeError(`section ${name} out of bounds`);
    out.set(name, pe.subarray(ptr, ptr + size));
  }
  return out;
}

/** What kexec needs of a UKI: the kernel, its command line and the initrd, if any. */
export interface UkiParts {
  linux: Uint8Array;
  cmdline: string;
  initrd?: Uint8Array;
}

/** Extracts {@link UkiParts}; throws {@link PeError} when `.linux` or `.cmdline` is missing. */
export function ukiParts(pe: Uint8Array): UkiParts {
  const s = peSections(pe);
  const linux = s.get(".linux");
  const cmd = s.get(".cmdline");
  if (!linux) throw new PeError("UKI has no .linux section");
  if (!cmd) throw new PeError("UKI has no .cmdline section");
  const cmdline = new TextDecoder().decode(cmd).replace(/\0+$/, "").trim();
  return { linux, cmdline, initrd: s.get(".initrd") };
}
