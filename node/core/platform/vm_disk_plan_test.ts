import assert from "node:assert/strict";
import type { GptPartition, GptTable } from "../../base/blockdev/gpt.ts";
import { PARTITION_TYPES } from "../../base/blockdev/parttypes.ts";
import { MS } from "../../base/sys/mount.ts";
import {
  type BootDiskFacts,
  decodeLoaderPartUuid,
  type DiskFacts,
  espMountSpec,
  planBootDisk,
} from "./vm_disk_plan.ts";

const MiB = 1024 * 1024;

function part(index: number, type: string, guid: string, sizeMiB: number): GptPartition {
  return {
    index,
    type,
    guid,
    firstLba: 2048 * index,
    lastLba: 2048 * index + sizeMiB * 2048 - 1,
    attributes: 0n,
    name: `p${index}`,
    offsetBytes: index * MiB,
    sizeBytes: sizeMiB * MiB,
  };
}

const g = (disk: string, n: number) => `${disk.padEnd(8, "0")}-0000-4000-8000-00000000000${n}`;

/** A node disk as the launcher writes it: ESP, system A/B, data. */
function nodeDisk(name: string, extra: GptPartition[] = []): DiskFacts {
  const partitions = [
    part(1, PARTITION_TYPES.esp, g(name.replace(/\W/g, "a"), 1), 128),
    part(2, PARTITION_TYPES.systemA, g(name.replace(/\W/g, "a"), 2), 1024),
    part(3, PARTITION_TYPES.systemB, g(name.replace(/\W/g, "a"), 3), 1024),
    part(4, PARTITION_TYPES.data, g(name.replace(/\W/g, "a"), 4), 2944),
    ...extra,
  ];
  const table: GptTable = {
    sectorSize: 512,
    diskGuid: g("dddddddd", 0),
    firstUsableLba: 34,
    lastUsableLba: 10_000_000,
    source: "primary",
    partitions,
  };
  return {
    name,
    table,
    partitions: new Map(partitions.map((p) => [p.index, `${name}${p.index}`])),
  };
}

const other: DiskFacts = {
  name: "vdb",
  table: { error: 'no "EFI PART" signature at LBA 1' },
  partitions: new Map([[1, "vdb1"]]),
};

Deno.test("boot disk: LoaderDevicePartUUID names the ESP and therefore the disk", () => {
  const facts: BootDiskFacts = {
    loaderPartUuid: g("vdb", 1),
    rootDisk: "vdb",
    disks: [nodeDisk("vda"), nodeDisk("vdb")],
  };
  const plan = planBootDisk(facts);
  assert.equal(plan.disk, "vdb");
  assert.match(plan.reason, /LoaderDevicePartUUID/);
  assert.deepEqual(plan.esp, { device: "/dev/vdb1", guid: g("vdb", 1), sizeBytes: 128 * MiB });
  assert.deepEqual(plan.data, { device: "/dev/vdb4", guid: g("vdb", 4), sizeBytes: 2944 * MiB });
});

Deno.test("boot disk: firmware and root disagreeing is an error, not a choice", () => {
  assert.throws(
    () =>
      planBootDisk({
        loaderPartUuid: g("vdb", 1),
        rootDisk: "vda",
        disks: [nodeDisk("vda"), nodeDisk("vdb")],
      }),
    /booted from disk vdb but the dm-verity root is on vda/,
  );
});

Deno.test("boot disk: a LoaderDevicePartUUID that is not an ESP or on no disk is refused", () => {
  assert.throws(
    () => planBootDisk({ loaderPartUuid: g("vda", 4), disks: [nodeDisk("vda")] }),
    /vda partition 4, which is not an ESP/,
  );
  assert.throws(
    () => planBootDisk({ loaderPartUuid: g("ffff", 9), disks: [nodeDisk("vda")] }),
    /which no disk has/,
  );
});

Deno.test("boot disk: without the variable the dm-verity root's disk is the boot disk", () => {
  const plan = planBootDisk({ rootDisk: "vdb", disks: [nodeDisk("vda"), nodeDisk("vdb")] });
  assert.equal(plan.disk, "vdb");
  assert.equal(plan.data.device, "/dev/vdb4");
  assert.throws(
    () => planBootDisk({ rootDisk: "vdb", disks: [nodeDisk("vda"), other] }),
    /root is on vdb, which has no readable GPT: no "EFI PART"/,
  );
});

Deno.test("boot disk: otherwise the one disk with ESP and data; two such disks are ambiguous", () => {
  assert.equal(planBootDisk({ disks: [other, nodeDisk("vda")] }).disk, "vda");
  assert.throws(
    () => planBootDisk({ disks: [nodeDisk("vda"), nodeDisk("nvme0n1p")] }),
    /2 disks have an ESP and a Metropolis data partition \(vda, nvme0n1p\)/,
  );
  assert.throws(() => planBootDisk({ disks: [other] }), /no disk has both.*\(disks: vdb\)/);
});

Deno.test("boot disk: two data partitions on the boot disk are refused, naming both", () => {
  const d = nodeDisk("vda", [part(5, PARTITION_TYPES.data, g("vda", 5), 10)]);
  assert.throws(
    () => planBootDisk({ rootDisk: "vda", disks: [d] }),
    /boot disk vda: 2 data partitions \(type 9eeec464-[^)]*\) at 4, 5; expected exactly one/,
  );
});

Deno.test("boot disk: a GPT partition the kernel did not register is an error", () => {
  const d = nodeDisk("vda");
  d.partitions.delete(4);
  assert.throws(() => planBootDisk({ rootDisk: "vda", disks: [d] }), /partition 4 has no kernel/);
});

Deno.test("LoaderDevicePartUUID: efivarfs attributes + UTF-16LE, NUL-terminated, any case", () => {
  const text = "A5B1C3D4-0000-4000-8000-0000000000AB\0";
  const raw = new Uint8Array(4 + text.length * 2);
  raw.set([7, 0, 0, 0]);
  for (let i = 0; i < text.length; i++) raw[4 + 2 * i] = text.charCodeAt(i);
  assert.equal(decodeLoaderPartUuid(raw), "a5b1c3d4-0000-4000-8000-0000000000ab");
  assert.throws(() => decodeLoaderPartUuid(raw.subarray(0, 5)), /not a UTF-16 string/);
  assert.throws(() => decodeLoaderPartUuid(raw.subarray(0, 20)), /is not a GUID/);
});

Deno.test("ESP mount: vfat read-write, nosuid/nodev/noexec, root-only", () => {
  const m = espMountSpec("/dev/vda1", "/esp");
  assert.equal(m.fstype, "vfat");
  assert.equal(m.flags, MS.NOSUID | MS.NODEV | MS.NOEXEC);
  assert.equal(m.flags & MS.RDONLY, 0);
  assert.match(m.data, /umask=0077/);
});
