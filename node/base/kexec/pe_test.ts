/**
 * UKI section extraction from a minimal PE built here (MZ, PE header, section table), and
 * refusal of truncated or inconsistent headers. kexec_file_load itself replaces the running
 * kernel, so it is exercised only in the VM tier.
 */
import assert from "node:assert/strict";
import { PeError, peSections, ukiParts } from "./pe.ts";

function pe(sections: Array<[string, Uint8Array]>): Uint8Array {
  const lfanew = 0x40;
  const optSize = 0xf0;
  const table = lfanew + 24 + optSize;
  let dataOff = table + 40 * sections.length;
  const total = dataOff + sections.reduce((s, [, d]) => s + d.length, 0);
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  b[0] = 0x4d;
  b[1] = 0x5a;
  v.setUint32(0x3c, lfanew, true);
  v.setUint32(lfanew, 0x4550, true);
  v.setUint16(lfanew + 6, sections.length, true);
  v.setUint16(lfanew + 20, optSize, true);
  sections.forEach(([name, data], i) => {
    const h = table + 40 * i;
    b.set(new TextEncoder().encode(name), h);
    v.setUint32(h + 8, data.length, true);
    v.setUint32(h + 16, data.length, true);
    v.setUint32(h + 20, dataOff, true);
    b.set(data, dataOff);
    dataOff += data.length;
  });
  return b;
}

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("a UKI's kernel and command line are found by section name", () => {
  const img = pe([
    [".osrel", enc("ID=x\n")],
    [".cmdline", enc("console=ttyS0 dm-mod.waitfor=PARTLABEL=METROPOLIS-SYSTEM-B\0\0")],
    [".linux", new Uint8Array([1, 2, 3])],
  ]);
  const p = ukiParts(img);
  assert.deepEqual(p.linux, new Uint8Array([1, 2, 3]));
  assert.equal(p.cmdline, "console=ttyS0 dm-mod.waitfor=PARTLABEL=METROPOLIS-SYSTEM-B");
  assert.equal(p.initrd, undefined);
  assert.deepEqual([...peSections(img).keys()], [".osrel", ".cmdline", ".linux"]);
});

Deno.test("malformed PE files are refused with the defect named", () => {
  assert.throws(() => ukiParts(new Uint8Array(100)), /no MZ header/);
  const img = pe([[".linux", new Uint8Array(10)]]);
  assert.throws(() => ukiParts(img), /no .cmdline section/);
  assert.throws(() => peSections(img.subarray(0, img.length - 5)), PeError);
});
