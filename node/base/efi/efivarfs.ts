/**
 * EFI variables through efivarfs (`/sys/firmware/efi/efivars`): a variable is the file
 * `<Name>-<vendor GUID>` holding a 4-byte little-endian attribute word followed by the data.
 * Linux wants attributes and data in one write(2). Files of known variables are immutable (see
 * immutable.ts): writing over or deleting one clears the flag first.
 * @module
 */
import { setImmutable } from "./immutable.ts";

/** Vendor GUID of the variables the UEFI spec defines (Boot####, BootOrder, …). */
export const EFI_GLOBAL_GUID = "8be4df61-93ca-11d2-aa0d-00e098032b8c";

/** Where efivarfs is mounted. */
export const EFIVARS_PATH = "/sys/firmware/efi/efivars";

/** Variable attributes. */
export const EFI_ATTR = Object.freeze({
  NON_VOLATILE: 0x1,
  BOOTSERVICE_ACCESS: 0x2,
  RUNTIME_ACCESS: 0x4,
});

/** NV | BS | RT: what boot variables carry. */
export const ATTR_NV_BS_RT = EFI_ATTR.NON_VOLATILE | EFI_ATTR.BOOTSERVICE_ACCESS |
  EFI_ATTR.RUNTIME_ACCESS;

/** A variable's attributes and data. */
export interface EfiVariable {
  attributes: number;
  data: Uint8Array;
}

/** Access to the EFI variables under one efivarfs mount (or a test directory). */
export class EfiVars {
  constructor(readonly dir: string = EFIVARS_PATH) {}

  #path(name: string, guid: string): string {
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new RangeError(`invalid EFI variable name ${name}`);
    return `${this.dir}/${name}-${guid}`;
  }

  /** Reads a variable; undefined when it does not exist. */
  async read(name: string, guid = EFI_GLOBAL_GUID): Promise<EfiVariable | undefined> {
    let b: Uint8Array;
    try {
      b = await Deno.readFile(this.#path(name, guid));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
    if (b.length < 4) throw new Error(`EFI variable ${name} is shorter than its attributes`);
    return {
      attributes: new DataView(b.buffer, b.byteOffset).getUint32(0, true),
      data: b.slice(4),
    };
  }

  /** Writes (creates or replaces) a variable with one write(2). */
  async write(
    name: string,
    data: Uint8Array,
    attributes = ATTR_NV_BS_RT,
    guid = EFI_GLOBAL_GUID,
  ): Promise<void> {
    const path = this.#path(name, guid);
    if (attributes & EFI_ATTR.RUNTIME_ACCESS) attributes |= EFI_ATTR.BOOTSERVICE_ACCESS;
    const buf = new Uint8Array(4 + data.length);
    new DataView(buf.buffer).setUint32(0, attributes, true);
    buf.set(data, 4);
    const exists = await Deno.stat(path).then(() => true, () => false);
    if (exists) setImmutable(path, false);
    const f = await Deno.open(path, { write: true, create: true, truncate: true });
    let n: number;
    try {
      n = await f.write(buf);
    } finally {
      f.close();
    }
    if (n !== buf.length) throw new Error(`EFI variable ${name}: short write (${n}/${buf.length})`);
  }

  /** Deletes a variable (nothing when absent). */
  async delete(name: string, guid = EFI_GLOBAL_GUID): Promise<void> {
    const path = this.#path(name, guid);
    try {
      setImmutable(path, false);
    } catch (e) {
      if ((e as { errno?: number }).errno === 2) return; // ENOENT
      throw e;
    }
    await Deno.remove(path).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  /** Names of the variables of vendor `guid`, sorted. */
  async list(guid = EFI_GLOBAL_GUID): Promise<string[]> {
    const out: string[] = [];
    const suffix = `-${guid}`;
    for await (const e of Deno.readDir(this.dir)) {
      if (e.isFile && e.name.endsWith(suffix)) out.push(e.name.slice(0, -suffix.length));
    }
    return out.sort();
  }
}
