/**
 * Installer mode: the target rules of image.md §11, finding the medium by its FAT32 label in a
 * sysfs/dev tree of image files, a full install onto a sparse 8705 MiB file (checked with
 * `sgdisk --verify`, `fsck.vfat -n`, mtools and our GPT reader) with a temp directory as
 * efivarfs, and the runnable's two endings (installed + reboot; no disk → the ERROR line, idle).
 * The host kernel has no vfat, so the test "mounts" the medium by copying its tree to the mount
 * point; the real mount(2) is VM-tier.
 */
import assert from "node:assert/strict";
import { readGpt } from "../../base/blockdev/gpt.ts";
import { fileWriter } from "../../base/blockdev/gpt_write.ts";
import { BootEntries } from "../../base/efi/boot.ts";
import { EfiVars } from "../../base/efi/efivarfs.ts";
import { setImmutable } from "../../base/efi/immutable.ts";
import { FatDir, writeFat32 } from "../../base/fat32/fat32.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { writeOsImageLayout } from "../../base/osimage/oci_layout.ts";
import { run, signal, Supervisor, untilAborted } from "../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../base/supervisor/testing.ts";
import {
  chooseTarget,
  type DiskInfo,
  findMedium,
  installerRunnable,
  installNode,
  listDisks,
  NO_TARGET,
} from "./mod.ts";
import { runTool } from "../../base/fat32/tool_testing.ts";

const MiB = 1024 * 1024;
const disk = (name: string, sizeMiB: number, o: Partial<DiskInfo> = {}): DiskInfo => ({
  name,
  sizeBytes: sizeMiB * MiB,
  removable: false,
  readOnly: false,
  physical: true,
  partitions: [],
  ...o,
});

Deno.test("target: first by name that is physical, fixed, writable, not the medium and ≥ 8705 MiB", () => {
  const disks = [
    disk("vdd", 9000),
    disk("vda", 9000, { removable: true }),
    disk("loop0", 20000, { physical: false }),
    disk("vdb", 8704),
    disk("sda", 9000),
    disk("vdc", 8705, { readOnly: true }),
  ];
  assert.equal(chooseTarget(disks, "sda")?.name, "vdd");
  assert.equal(chooseTarget(disks, undefined)?.name, "sda");
  assert.equal(chooseTarget([disk("vdb", 8705)], undefined)?.name, "vdb");
  assert.equal(chooseTarget([disk("vdb", 8704)], undefined), undefined);
});

interface Tree {
  dir: string;
  sys: string;
  dev: string;
  medium: string;
  efivars: string;
}

async function withTree(targetMiB: number, f: (t: Tree) => Promise<void>) {
  const dir = await Deno.makeTempDir({ dir: "/var/tmp" });
  const t = {
    dir,
    sys: `${dir}/sys`,
    dev: `${dir}/dev`,
    medium: `${dir}/medium`,
    efivars: `${dir}/efivars`,
  };
  try {
    await Deno.mkdir(t.dev, { recursive: true });
    await Deno.mkdir(t.efivars);
    const mkdisk = async (name: string, sizeMiB: number, removable: number, parts: string[]) => {
      const b = `${t.sys}/block/${name}`;
      await Deno.mkdir(`${b}/device`, { recursive: true });
      await Deno.writeTextFile(`${b}/size`, String(sizeMiB * 2048));
      await Deno.writeTextFile(`${b}/removable`, String(removable));
      await Deno.writeTextFile(`${b}/ro`, "0");
      for (const p of parts) {
        await Deno.mkdir(`${b}/${p}`);
        await Deno.writeTextFile(`${b}/${p}/partition`, "1");
      }
      using f = await Deno.open(`${t.dev}/${name}`, { write: true, create: true });
      await f.truncate(sizeMiB * MiB);
    };
    await mkdisk("vda", targetMiB, 0, []);
    await mkdisk("vdb", 600, 1, ["vdb1"]);
    // The medium's FAT partition as its own device file, and its contents as a tree.
    {
      using f = await Deno.open(`${t.dev}/vdb1`, { write: true, create: true });
      await f.truncate(512 * MiB);
      await writeFat32(fileWriter(f), new FatDir(), {
        sizeBytes: 512 * MiB,
        label: "METRO_INST",
        volumeId: 1,
      });
    }
    await Deno.mkdir(`${t.medium}/metropolis-installer`, { recursive: true });
    await Deno.writeTextFile(`${t.medium}/metropolis-installer/nodeparams.pb`, "params");
    const files = [];
    const payloads: Record<string, Uint8Array> = {
      system: new Uint8Array(3 * MiB + 3).map((_, i) => i % 253),
      "boot-a.efi": new TextEncoder().encode("UKI A"),
      "boot-b.efi": new TextEncoder().encode("UKI B"),
      "installer.efi": new TextEncoder().encode("installer"),
    };
    for (const [n, d] of Object.entries(payloads)) {
      await Deno.writeFile(`${dir}/${n}`, d);
      files.push({ name: n, path: `${dir}/${n}` });
    }
    await writeOsImageLayout(`${t.medium}/metropolis-installer/osimage`, files, {
      id: "metropolis-node",
      name: "Metropolis Node",
      version: "0.1.0",
      variant: "test",
      commit_hash: "x",
    });
    await f(t);
  } finally {
    try {
      for (const e of Deno.readDirSync(t.efivars)) setImmutable(`${t.efivars}/${e.name}`, false);
    } catch { /* gone */ }
    await Deno.remove(dir, { recursive: true });
  }
}

async function tool(cmd: string, args: string[]): Promise<string> {
  return (await runTool(cmd, args)).text;
}

Deno.test("the medium is found by its FAT32 label; the install writes GPT, slot A, the ESP and one boot entry", async () => {
  await withTree(8705, async (t) => {
    const disks = listDisks({ sys: t.sys });
    assert.deepEqual(disks.map((d) => [d.name, d.removable, d.partitions]), [["vda", false, []], [
      "vdb",
      true,
      ["vdb1"],
    ]]);
    assert.deepEqual(await findMedium(disks, { dev: t.dev }), { disk: "vdb", partition: "vdb1" });
    const lines: string[] = [];
    const n = await installNode({
      medium: t.medium,
      target: `${t.dev}/vda`,
      targetBytes: 8705 * MiB,
      efivars: t.efivars,
      log: (l) => lines.push(l),
    });
    assert.match(lines[0], /installing Metropolis 0\.1\.0 onto .*vda \(8705 MiB\)/);
    const target = `${t.dev}/vda`;
    assert.match(await tool("sgdisk", ["--verify", target]), /No problems found/);
    const gpt = await readGpt(target, 512);
    // The backup GPT takes the last 33 sectors of the 128 MiB the minimum leaves for data.
    assert.deepEqual(gpt.partitions.map((p) => [p.name, Math.round(p.sizeBytes / MiB)]), [
      ["ESP", 384],
      ["METROPOLIS-SYSTEM-A", 4096],
      ["METROPOLIS-SYSTEM-B", 4096],
      ["METROPOLIS-NODE-DATA", 128],
    ]);
    const [esp, a] = gpt.partitions;
    using f = await Deno.open(target);
    const read = async (off: number, len: number) => {
      await f.seek(off, Deno.SeekMode.Start);
      const b = new Uint8Array(len);
      let got = 0;
      while (got < len) got += (await f.read(b.subarray(got)))!;
      return b;
    };
    assert.deepEqual(
      await read(a.offsetBytes, 3 * MiB + 3),
      new Uint8Array(3 * MiB + 3).map((_, i) => i % 253),
    );
    await Deno.writeFile(`${t.dir}/esp.img`, await read(esp.offsetBytes, esp.sizeBytes));
    await tool("fsck.vfat", ["-n", `${t.dir}/esp.img`]);
    const cat = (p: string) => tool("mtype", ["-i", `${t.dir}/esp.img`, `::${p}`]);
    assert.equal(await cat("EFI/BOOT/BOOTX64.EFI"), "UKI A");
    assert.equal(await cat("EFI/metropolis/boot-a.efi"), "UKI A");
    // Slot B is empty: no UKI may claim it holds a system (rollback would boot nothing).
    await assert.rejects(cat("EFI/metropolis/boot-b.efi"), /not found/i);
    assert.equal(await cat("metropolis/parameters.pb"), "params");
    const be = new BootEntries(new EfiVars(t.efivars));
    assert.deepEqual(await be.order(), [n]);
    const entry = (await be.list()).get(n!)!;
    assert.equal(entry.description, "Metropolis A");
    assert.deepEqual(entry.filePath[0], {
      kind: "hd",
      partitionNumber: 1,
      startLba: 2048n,
      sizeLba: 786432n,
      partitionGuid: esp.guid,
    });
  });
});

function runInstaller(t: Tree) {
  const tree = new LogTree();
  const reboots: number[] = [];
  const sup = new Supervisor(tree, async (ctx) => {
    run(
      ctx,
      "installer",
      installerRunnable({
        reboot: () => Promise.resolve(void reboots.push(1)),
        mountPoint: `${t.dir}/mnt`,
        sources: { sys: t.sys, dev: t.dev },
        mountMedium: (_d, target) => {
          Deno.removeSync(target, { recursive: true });
          Deno.renameSync(t.medium, target);
        },
        efivars: t.efivars,
        mediumTimeoutMs: 1000,
        rebootDelayMs: 10,
      }),
    );
    signal(ctx, "healthy");
    await untilAborted(ctx);
  }, { onRootExit: () => {} });
  const lines = () =>
    tree.read("root.installer", { backlog: "all" }).backlog.map((e) =>
      `${e.leveled?.severity}:${e.leveled?.lines.join(" ")}`
    );
  return { sup, reboots, lines };
}

Deno.test("installer runnable: installs, logs Installation completed and reboots after the delay", async () => {
  await withTree(9000, async (t) => {
    const r = await runInstaller(t);
    try {
      await waitUntil(() => r.reboots.length === 1, "reboot", 60_000);
      assert.ok(
        r.lines().some((l) => /^INFO:Installation completed \(/.test(l)),
        r.lines().join("\n"),
      );
    } finally {
      await r.sup.stop();
    }
  });
});

Deno.test("installer runnable: no disk large enough → the exact ERROR line, no writes, no reboot", async () => {
  await withTree(8704, async (t) => {
    const r = await runInstaller(t);
    try {
      await waitUntil(
        () => r.lines().some((l) => l === `ERROR:${NO_TARGET}`),
        "error line",
        30_000,
      );
      await new Promise((res) => setTimeout(res, 100));
      assert.deepEqual(r.reboots, []);
      using f = await Deno.open(`${t.dev}/vda`);
      const head = new Uint8Array(MiB);
      await f.read(head);
      assert.ok(head.every((b) => b === 0), "the disk is untouched");
    } finally {
      await r.sup.stop();
    }
  });
});
