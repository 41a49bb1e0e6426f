/**
 * Codec tests with a published vector (upstream Monogon's efivarfs test: "Example" →
 * HD(1, GPT, 6ba7b814-…, 5, 8)/\test\a.efi) and efivarfs behaviour against a temp directory on
 * ext4 standing in for `/sys/firmware/efi/efivars`, including the immutable flag Linux sets on
 * known variables.
 */
import assert from "node:assert/strict";
import {
  BootEntries,
  decodeBootOrder,
  decodeLoadOption,
  DevicePathError,
  EFI_GLOBAL_GUID,
  EfiVars,
  encodeBootOrder,
  encodeLoadOption,
  FS_IMMUTABLE_FL,
  getInodeFlags,
  type LoadOption,
  setImmutable,
} from "./mod.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));
const VECTOR = hex(
  "010000004a004500780061006d0070006c006500000004012a00010000000" +
    "500000000000000080000000000000014b8a76bad9dd11180b400c04fd430" +
    "c8020204041c005c0074006500730074005c0061002e00650066006900000" +
    "07fff0400",
);
const EXAMPLE: LoadOption = {
  attributes: 1,
  description: "Example",
  filePath: [
    {
      kind: "hd",
      partitionNumber: 1,
      startLba: 5n,
      sizeLba: 8n,
      partitionGuid: "6ba7b814-9dad-11d1-80b4-00c04fd430c8",
    },
    { kind: "file", path: "\\test\\a.efi" },
  ],
};

Deno.test("a load option encodes to the reference bytes and decodes back", () => {
  assert.deepEqual(encodeLoadOption(EXAMPLE), VECTOR);
  const d = decodeLoadOption(VECTOR);
  assert.equal(d.description, "Example");
  assert.deepEqual(d.filePath, EXAMPLE.filePath);
  assert.deepEqual(d.extraPaths, []);
  assert.equal(d.optionalData.length, 0);
});

Deno.test("truncated and overlong load options are refused, not read past their end", () => {
  for (let n = 0; n < VECTOR.length; n += 7) {
    assert.throws(() => decodeLoadOption(VECTOR.subarray(0, n)), DevicePathError);
  }
  const bad = VECTOR.slice();
  bad[4] = 0xff; // FilePathListLength beyond the data
  assert.throws(() => decodeLoadOption(bad), /overruns/);
  assert.deepEqual(decodeBootOrder(encodeBootOrder([3, 0, 0x1234])), [3, 0, 0x1234]);
  assert.throws(() => decodeBootOrder(new Uint8Array(3)), /odd/);
});

async function withVars(f: (dir: string, be: BootEntries) => Promise<void>) {
  const dir = await Deno.makeTempDir({ dir: "/var/tmp" });
  try {
    await f(dir, new BootEntries(new EfiVars(dir)));
  } finally {
    for await (const e of Deno.readDir(dir)) {
      try {
        setImmutable(`${dir}/${e.name}`, false);
      } catch { /* best effort */ }
    }
    await Deno.remove(dir, { recursive: true });
  }
}

const file = (dir: string, name: string) => `${dir}/${name}-${EFI_GLOBAL_GUID}`;

Deno.test("variables are written as attributes + data; immutable ones are unlocked to write and delete", async () => {
  await withVars(async (dir, be) => {
    await be.setOrder([1, 0]);
    assert.deepEqual(await Deno.readFile(file(dir, "BootOrder")), hex("07000000" + "01000000"));
    setImmutable(file(dir, "BootOrder"), true);
    assert.ok(getInodeFlags(file(dir, "BootOrder")) & FS_IMMUTABLE_FL);
    await assert.rejects(() => Deno.writeFile(file(dir, "BootOrder"), new Uint8Array(6)));
    await be.setOrder([0, 1]);
    assert.deepEqual(await be.order(), [0, 1]);
    await be.setNext(1);
    setImmutable(file(dir, "BootNext"), true);
    assert.equal(await be.next(), 1);
    await be.clearNext();
    assert.equal(await be.next(), undefined);
    await be.clearNext(); // absent: nothing to do
  });
});

Deno.test("ensure reuses an entry with the same description, rewrites a moved one, else takes a free number", async () => {
  await withVars(async (dir, be) => {
    await new EfiVars(dir).write("Boot0000", hex("01000000" + "0000")); // malformed firmware entry
    const a = await be.ensure({ description: "Metropolis A", filePath: EXAMPLE.filePath });
    assert.equal(a, 1);
    assert.equal(await be.ensure({ description: "Metropolis A", filePath: EXAMPLE.filePath }), 1);
    const moved = [EXAMPLE.filePath[0], { kind: "file" as const, path: "\\EFI\\x.efi" }];
    setImmutable(file(dir, "Boot0001"), true);
    assert.equal(await be.ensure({ description: "Metropolis A", filePath: moved }), 1);
    assert.deepEqual((await be.list()).get(1)?.filePath, moved);
    assert.equal(
      (await be.list()).get(1)?.optionalData?.length,
      0,
      "no stale bytes of the longer entry",
    );
    assert.equal(await be.ensure({ description: "Metropolis B", filePath: moved }), 2);
    assert.deepEqual([...(await be.list()).keys()], [1, 2]);
  });
});

Deno.test("firmware UI: supported bit read from OsIndicationsSupported, set in OsIndications keeping other bits", async () => {
  await withVars(async (dir, be) => {
    assert.equal(await be.firmwareUiSupported(), false);
    const vars = new EfiVars(dir);
    await vars.write("OsIndicationsSupported", hex("0100000000000000"), 6);
    assert.equal(await be.firmwareUiSupported(), true);
    await vars.write("OsIndications", hex("0400000000000000"));
    await be.requestFirmwareUi();
    assert.deepEqual((await vars.read("OsIndications"))?.data, hex("0500000000000000"));
  });
});
