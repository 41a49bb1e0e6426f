import assert from "node:assert/strict";
import {
  bootEntryName,
  HASH_CHUNK_SIZE,
  INSTALLER_MEDIUM,
  installerCmdline,
  isInstallerCmdline,
  minimumDiskMiB,
  nodeCmdline,
  nodePartitions,
  OS_VERSION,
  OsImageError,
  otherSlot,
  parseVersion,
  PARTITION_TYPES,
  payloadInfo,
  readOsImageLayout,
  requirePayloads,
  runningVersion,
  slotFromCmdline,
  slotUkiEfiPath,
  verifyChunks,
  writeOsImageLayout,
} from "./mod.ts";

const MiB = 1024 * 1024;

async function* once(b: Uint8Array) {
  yield b;
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out = [];
  for await (const c of it) out.push(c);
  return out;
}

const PRODUCT = {
  id: "metropolis-node",
  name: "Metropolis Node",
  version: "0.1.0",
  variant: "x86_64",
  commit_hash: "abc",
};

Deno.test("installer disks need 8705 MiB: partitions + 128 MiB data + 1 MiB GPT", () => {
  assert.equal(minimumDiskMiB("installer"), 8705);
  const l = nodePartitions("launcher");
  assert.deepEqual(l.map((p) => [p.name, p.sizeMiB]), [
    ["ESP", 128],
    ["METROPOLIS-SYSTEM-A", 1024],
    ["METROPOLIS-SYSTEM-B", 1024],
    ["METROPOLIS-NODE-DATA", 0],
  ]);
  assert.equal(l[0].type, PARTITION_TYPES.esp);
  assert.equal(INSTALLER_MEDIUM.imageBytes, MiB + 512 * MiB + MiB);
});

Deno.test("the booted slot is read back from the slot's own command line", () => {
  const v = { rootHash: "aa".repeat(32), salt: "bb".repeat(32), dataBlocks: 10, size: 45056 };
  for (const s of ["a", "b"] as const) {
    assert.equal(slotFromCmdline(nodeCmdline(s, v)), s);
    assert.equal(otherSlot(otherSlot(s)), s);
  }
  assert.equal(slotFromCmdline(installerCmdline()), undefined);
  assert.ok(isInstallerCmdline(installerCmdline()));
  assert.ok(!isInstallerCmdline(nodeCmdline("a", v)));
  assert.equal(bootEntryName("b"), "Metropolis B");
  assert.equal(slotUkiEfiPath("a"), "\\EFI\\metropolis\\boot-a.efi");
});

Deno.test("versions parse to the API's release triple and junk is refused", () => {
  assert.deepEqual(parseVersion("1.22.333-rc1"), { major: 1n, minor: 22n, patch: 333n });
  assert.throws(() => parseVersion("1.2"), /not a version/);
});

Deno.test("verified chunks pass through; a flipped byte stops before the bad chunk", async () => {
  const data = new Uint8Array(2 * MiB + 5).map((_, i) => i * 7);
  const info = await payloadInfo("system", once(data));
  assert.equal(info.chunk_hashes_sha256.length, 3);
  assert.equal(info.hash_chunk_size, HASH_CHUNK_SIZE);
  const ok = await collect(verifyChunks(once(data), info));
  assert.deepEqual(ok.map((c) => c.length), [MiB, MiB, 5]);

  const bad = data.slice();
  bad[MiB + 17] ^= 1;
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const c of verifyChunks(once(bad), info)) seen.push(c.length);
  }, /chunk 1 does not match its hash/);
  assert.deepEqual(seen, [MiB], "only the verified first chunk was handed on");
  await assert.rejects(
    () => collect(verifyChunks(once(data.subarray(0, MiB)), info)),
    /ends after/,
  );
  await assert.rejects(
    () => collect(verifyChunks(once(new Uint8Array([...data, 1])), info)),
    /ends after|more than/,
  );
});

Deno.test("an OS image layout reads back with its payloads; a missing payload is named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = `${dir}/a.bin`;
    await Deno.writeFile(a, new Uint8Array(MiB + 1).fill(3));
    await Deno.writeFile(`${dir}/b.bin`, new TextEncoder().encode("uki"));
    const w = await writeOsImageLayout(`${dir}/oci`, [
      { name: "system", path: a },
      { name: "boot-a.efi", path: `${dir}/b.bin` },
    ], PRODUCT);
    const l = await readOsImageLayout(`${dir}/oci`);
    assert.equal(l.manifestDigest, w.manifestDigest);
    assert.equal(l.image.config.product_info.version, "0.1.0");
    assert.deepEqual(
      await Deno.readFile(l.payloadPath("boot-a.efi")!),
      new TextEncoder().encode("uki"),
    );
    assert.throws(
      () => requirePayloads(l.image, ["system", "boot-b.efi"]),
      (e) => e instanceof OsImageError && e.message === "OS image lacks payload boot-b.efi",
    );
    // Same input, same digest.
    const again = await writeOsImageLayout(`${dir}/oci2`, [
      { name: "system", path: a },
      { name: "boot-a.efi", path: `${dir}/b.bin` },
    ], PRODUCT);
    assert.equal(again.manifestDigest, w.manifestDigest);
    // A tampered config is refused by digest.
    const cfg = l.image.manifest.config.digest.slice(7);
    await Deno.writeTextFile(`${dir}/oci/blobs/sha256/${cfg}`, "{}");
    await assert.rejects(() => readOsImageLayout(`${dir}/oci`), /does not match its digest/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the running version comes from product-info.json when the image carries one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(runningVersion(`${dir}/absent.json`), OS_VERSION);
    await Deno.writeTextFile(`${dir}/p.json`, JSON.stringify({ version: "7.8.9" }));
    assert.equal(runningVersion(`${dir}/p.json`), "7.8.9");
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify({ version: "seven" }));
    assert.throws(() => runningVersion(`${dir}/bad.json`), /not a version/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
