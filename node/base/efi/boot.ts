/**
 * Boot entries on top of efivarfs: `Boot####` load options, BootOrder, BootNext, BootCurrent
 * and the OsIndications bit that boots into the firmware UI (UEFI spec 2.10 §3.3).
 * @module
 */
import type { DevicePath } from "./devicepath.ts";
import { EfiVars } from "./efivarfs.ts";
import {
  bootEntryNumber,
  bootVariableName,
  decodeBootOrder,
  decodeLoadOption,
  encodeBootOrder,
  encodeLoadOption,
  type LoadOption,
} from "./loadoption.ts";

/** EFI_OS_INDICATIONS_BOOT_TO_FW_UI. */
export const BOOT_TO_FW_UI = 0x1n;

function u64le(b: Uint8Array | undefined): bigint {
  if (!b || b.length < 8) return 0n;
  return new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);
}

function u16le(b: Uint8Array): number | undefined {
  return b.length === 2 ? b[0] | (b[1] << 8) : undefined;
}

const samePath = (a: DevicePath, b: DevicePath) =>
  JSON.stringify(a, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) ===
    JSON.stringify(b, (_k, v) => (typeof v === "bigint" ? v.toString() : v));

/** Boot entry management over one {@link EfiVars}. */
export class BootEntries {
  constructor(readonly vars: EfiVars = new EfiVars()) {}

  /** The decodable `Boot####` entries by number (malformed ones are left out). */
  async list(): Promise<Map<number, LoadOption>> {
    const out = new Map<number, LoadOption>();
    for (const name of await this.vars.list()) {
      const n = bootEntryNumber(name);
      if (n === undefined) continue;
      const v = await this.vars.read(name);
      if (!v) continue;
      try {
        out.set(n, decodeLoadOption(v.data));
      } catch {
        // Firmware's own entry in a form we cannot parse: not ours, leave it alone.
      }
    }
    return out;
  }

  /**
   * Returns the number of the entry described `option.description`: an entry with the same
   * description and file path is reused, one with the same description but another path is
   * rewritten, else the lowest free number is taken.
   */
  async ensure(option: LoadOption): Promise<number> {
    const entries = await this.list();
    for (const [n, e] of entries) {
      if (e.description !== option.description) continue;
      if (!samePath(e.filePath, option.filePath)) {
        await this.vars.write(bootVariableName(n), encodeLoadOption(option));
      }
      return n;
    }
    const taken = new Set((await this.vars.list()).map(bootEntryNumber));
    let n = 0;
    while (taken.has(n)) n++;
    if (n > 0xffff) throw new Error("no free Boot#### number");
    await this.vars.write(bootVariableName(n), encodeLoadOption(option));
    return n;
  }

  /** BootOrder (empty when unset). */
  async order(): Promise<number[]> {
    const v = await this.vars.read("BootOrder");
    return v ? decodeBootOrder(v.data) : [];
  }

  async setOrder(order: number[]): Promise<void> {
    await this.vars.write("BootOrder", encodeBootOrder(order));
  }

  /** BootNext, when set. */
  async next(): Promise<number | undefined> {
    const v = await this.vars.read("BootNext");
    return v ? u16le(v.data) : undefined;
  }

  /** Sets BootNext: the firmware boots entry `n` once and deletes the variable. */
  async setNext(n: number): Promise<void> {
    await this.vars.write("BootNext", encodeBootOrder([n]));
  }

  async clearNext(): Promise<void> {
    await this.vars.delete("BootNext");
  }

  /** BootCurrent: the entry the firmware booted this time (read-only, volatile). */
  async current(): Promise<number | undefined> {
    const v = await this.vars.read("BootCurrent");
    return v ? u16le(v.data) : undefined;
  }

  /** Whether OsIndicationsSupported offers BOOT_TO_FW_UI. */
  async firmwareUiSupported(): Promise<boolean> {
    return (u64le((await this.vars.read("OsIndicationsSupported"))?.data) & BOOT_TO_FW_UI) !== 0n;
  }

  /** Sets BOOT_TO_FW_UI in OsIndications (keeping other bits). */
  async requestFirmwareUi(): Promise<void> {
    const cur = u64le((await this.vars.read("OsIndications"))?.data);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, cur | BOOT_TO_FW_UI, true);
    await this.vars.write("OsIndications", b);
  }
}
