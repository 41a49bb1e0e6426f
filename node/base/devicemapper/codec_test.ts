/** Tier-1 tests of the `struct dm_ioctl` codec and the request builders. */
import assert from "node:assert/strict";
import {
  decodeDev,
  decodeHeader,
  decodeTargets,
  DM_FLAG,
  DM_IOCTL_SIZE,
  DmCodecError,
  type DmTarget,
  encodeDev,
  encodeRequest,
  loadRequest,
  removeRequest,
  resumeRequest,
  statusRequest,
  suspendRequest,
} from "./mod.ts";

const td = new TextDecoder();
const u32 = (b: Uint8Array, off: number) =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
const cstrAt = (b: Uint8Array, off: number) => td.decode(b.subarray(off, b.indexOf(0, off)));

/**
 * Builds a reply the way the kernel's `retrieve_status` lays it out: records from data_start,
 * each `next` relative to data_start, 8-byte aligned.
 */
function kernelReply(targets: (DmTarget & { status?: number })[], size = 4096): Uint8Array {
  const buf = new Uint8Array(size);
  const v = new DataView(buf.buffer);
  [4, 47, 0].forEach((x, i) => v.setUint32(4 * i, x, true));
  v.setUint32(16, DM_IOCTL_SIZE, true);
  v.setUint32(20, targets.length, true);
  new TextEncoder().encodeInto("vol", buf.subarray(48));
  let rel = 0;
  for (const t of targets) {
    const off = DM_IOCTL_SIZE + rel;
    v.setBigUint64(off, BigInt(t.start), true);
    v.setBigUint64(off + 8, BigInt(t.length), true);
    v.setInt32(off + 16, t.status ?? 0, true);
    new TextEncoder().encodeInto(t.type, buf.subarray(off + 24));
    const p = new TextEncoder().encode(t.params);
    buf.set(p, off + 40);
    rel = Math.ceil((rel + 40 + p.length + 1) / 8) * 8;
    v.setUint32(off + 20, rel, true);
  }
  v.setUint32(12, DM_IOCTL_SIZE + rel, true);
  return buf;
}

Deno.test("a create request carries version 4.0.0, sizes, name and uuid at their offsets", () => {
  const b = encodeRequest({ name: "data", uuid: "CRYPT-1234" });
  assert.equal(b.length, DM_IOCTL_SIZE);
  assert.deepEqual([u32(b, 0), u32(b, 4), u32(b, 8)], [4, 0, 0]);
  assert.equal(u32(b, 12), DM_IOCTL_SIZE); // data_size
  assert.equal(u32(b, 16), DM_IOCTL_SIZE); // data_start (312 is already 8-aligned)
  assert.equal(u32(b, 20), 0); // target_count
  assert.equal(cstrAt(b, 48), "data");
  assert.equal(cstrAt(b, 176), "CRYPT-1234");
  const h = decodeHeader(b);
  assert.equal(h.name, "data");
  assert.equal(h.uuid, "CRYPT-1234");
});

Deno.test("a table load lays out 8-aligned target specs with next relative to each spec", () => {
  const t1 = { start: 0, length: 2048, type: "linear", params: "8:1 0" }; // 40+5+1 → 48
  const t2 = { start: 2048, length: 8, type: "zero", params: "" }; // 40+0+1 → 48
  const { cmd, buf } = loadRequest("vol", [t1, t2], { readOnly: true });
  assert.equal(cmd, "TABLE_LOAD");
  const h = decodeHeader(buf);
  assert.equal(h.targetCount, 2);
  assert.equal(h.flags, DM_FLAG.SECURE_DATA | DM_FLAG.READONLY);
  assert.equal(h.dataSize, buf.length);
  assert.equal(buf.length, DM_IOCTL_SIZE + 48 + 48);
  const v = new DataView(buf.buffer);
  const a = DM_IOCTL_SIZE;
  assert.equal(v.getBigUint64(a + 8, true), 2048n);
  assert.equal(u32(buf, a + 20), 48); // next: offset from this spec to the next
  assert.equal(cstrAt(buf, a + 24), "linear");
  assert.equal(cstrAt(buf, a + 40), "8:1 0");
  assert.equal(v.getBigUint64(a + 48, true), 2048n);
  assert.equal(cstrAt(buf, a + 48 + 24), "zero");
});

Deno.test("resume, suspend and remove differ only in command and suspend flag", () => {
  assert.equal(resumeRequest("v").cmd, "DEV_SUSPEND");
  assert.equal(decodeHeader(resumeRequest("v").buf).flags, 0);
  assert.equal(decodeHeader(suspendRequest("v").buf).flags, DM_FLAG.SUSPEND);
  assert.equal(removeRequest("v").cmd, "DEV_REMOVE");
});

Deno.test("a table status request reserves a reply buffer and asks for the table", () => {
  const { cmd, buf } = statusRequest("v", "table", 8192);
  assert.equal(cmd, "TABLE_STATUS");
  assert.equal(buf.length, 8192);
  const h = decodeHeader(buf);
  assert.equal(h.dataSize, 8192);
  assert.ok(h.flags & DM_FLAG.STATUS_TABLE);
  assert.equal(decodeHeader(statusRequest("v", "status").buf).flags & DM_FLAG.STATUS_TABLE, 0);
});

Deno.test("names are checked like the kernel's check_name and DM_NAME_LEN", () => {
  for (const bad of ["", ".", "..", "control", "a/b", "x".repeat(128), "a\0b"]) {
    assert.throws(() => encodeRequest({ name: bad }), DmCodecError, JSON.stringify(bad));
  }
  assert.equal(decodeHeader(encodeRequest({ name: "x".repeat(127) })).name.length, 127);
  assert.throws(() => encodeRequest({ uuid: "u".repeat(129) }), /at most 128 fit/);
});

Deno.test("target specs reject long type names, NULs and empty or fractional lengths", () => {
  const t = { start: 0, length: 8, type: "crypt", params: "" };
  assert.throws(() => loadRequest("v", [{ ...t, type: "x".repeat(16) }]), /at most 15 fit/);
  assert.throws(() => loadRequest("v", [{ ...t, params: "a\0b" }]), /NUL/);
  assert.throws(() => loadRequest("v", [{ ...t, length: 0 }]), /length 0/);
  assert.throws(() => loadRequest("v", [{ ...t, length: 1.5 }]), /not a sector count/);
  assert.throws(() => loadRequest("v", []), /no targets/);
});

Deno.test("a table status reply decodes with next relative to data_start", () => {
  const targets = [
    { start: 0, length: 1000, type: "integrity", params: "7:0 0 28 J 0", status: 0 },
    { start: 1000, length: 24, type: "crypt", params: "aes-xts-plain64 - 0 7:1 0", status: 0 },
    { start: 1024, length: 8, type: "zero", params: "", status: 0 },
  ];
  const buf = kernelReply(targets);
  const h = decodeHeader(buf);
  assert.equal(h.name, "vol");
  assert.deepEqual(h.version, [4, 47, 0]);
  assert.deepEqual(decodeTargets(buf), targets);
});

Deno.test("hostile replies are errors, not out-of-bounds reads or loops", async (t) => {
  const one = [{ start: 0, length: 8, type: "zero", params: "" }];
  const two = [...one, { start: 8, length: 8, type: "zero", params: "" }];
  const cases: [string, () => Uint8Array, RegExp][] = [
    ["a buffer shorter than the header", () => new Uint8Array(100), /shorter than struct/],
    ["a name without NUL", () => {
      const b = kernelReply(one);
      b.fill(0x41, 48, 176);
      return b;
    }, /name is not NUL-terminated/],
    ["target_count beyond the records", () => {
      const b = kernelReply(one);
      new DataView(b.buffer).setUint32(20, 1000, true);
      return b;
    }, /does not advance|runs past/],
    ["a next pointing backwards", () => {
      const b = kernelReply(two);
      new DataView(b.buffer).setUint32(DM_IOCTL_SIZE + 20, 0, true);
      return b;
    }, /does not advance/],
    ["data_start past data_size", () => {
      const b = kernelReply(one);
      new DataView(b.buffer).setUint32(16, 1 << 30, true);
      return b;
    }, /data_start/],
    ["parameters without NUL before data_size", () => {
      const b = kernelReply(one);
      const v = new DataView(b.buffer);
      b.fill(0x41, DM_IOCTL_SIZE + 40, DM_IOCTL_SIZE + 48);
      v.setUint32(12, DM_IOCTL_SIZE + 48, true);
      return b;
    }, /not NUL-terminated/],
    ["a truncated reply", () => {
      const b = kernelReply(one);
      new DataView(b.buffer).setUint32(28, DM_FLAG.BUFFER_FULL, true);
      return b;
    }, /DM_BUFFER_FULL_FLAG/],
  ];
  for (const [what, make, want] of cases) {
    await t.step(`${what} is rejected`, () => {
      assert.throws(
        () => decodeTargets(make()),
        (e: Error) => e instanceof DmCodecError && want.test(e.message),
      );
    });
  }
});

Deno.test("dev_t uses the kernel's huge_encode_dev layout", () => {
  assert.equal(encodeDev(8, 1), 0x801n);
  assert.equal(encodeDev(253, 0), 0xfd00n);
  assert.equal(encodeDev(253, 0x12345), 0x1230fd45n); // minor bits above 8 go to bits 20+
  for (const [major, minor] of [[253, 0], [259, 7], [253, 300], [4095, 0xfffff]]) {
    assert.deepEqual(decodeDev(encodeDev(major, minor)), { major, minor });
  }
});
