/**
 * The boot disk facts read from a sysfs-shaped directory, a `/dev` directory holding a real GPT
 * disk image (written by sgdisk, as the launcher's disks are) and an efivarfs-format variable
 * file. Mounting the ESP needs the VM (tier 3, e2e/suites/storage).
 */
import assert from "node:assert/strict";
import { PARTITION_TYPES } from "../../base/blockdev/parttypes.ts";
import { bootDiskFacts } from "./vm_disk.ts";
import { planBootDisk } from "./vm_disk_plan.ts";

const ESP_GUID = "0a0b0c0d-1111-4222-8333-444455556666";

function efivar(text: string): Uint8Array {
  const s = `${text}\0`;
  const b = new Uint8Array(4 + 2 * s.length);
  b.set([7, 0, 0, 0]);
  for (let i = 0; i < s.length; i++) b[4 + 2 * i] = s.charCodeAt(i);
  return b;
}

async function sgdisk(args: string[]): Promise<void> {
  const out = await new Deno.Command("sgdisk", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`sgdisk: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test({
  name: "boot disk facts: GPT of /dev/<disk>, partitions from sysfs, LoaderDevicePartUUID",
  ignore: (() => {
    try {
      new Deno.Command("sgdisk", { args: ["--version"], stdout: "null" }).outputSync();
      return false;
    } catch {
      console.log("skipped: sgdisk is not installed (.ci/setup installs gdisk)");
      return true;
    }
  })(),
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "vm-disk-test-" });
    try {
      const dev = `${root}/dev`;
      const sys = `${root}/sys`;
      await Deno.mkdir(dev);
      const img = `${dev}/vda`;
      const f = await Deno.open(img, { write: true, create: true });
      await f.truncate(64 * 1024 * 1024);
      f.close();
      await sgdisk([
        "--clear",
        "--new=1:2048:+16M",
        `--typecode=1:${PARTITION_TYPES.esp}`,
        `--partition-guid=1:${ESP_GUID}`,
        "--new=2:0:+16M",
        `--typecode=2:${PARTITION_TYPES.systemA}`,
        "--new=3:0:0",
        `--typecode=3:${PARTITION_TYPES.data}`,
        img,
      ]);
      const files: Record<string, string> = {
        "block/vda/dev": "252:0",
        "block/vda/size": String(128 * 1024),
        "block/vda/queue/logical_block_size": "512",
      };
      for (const n of [1, 2, 3]) {
        files[`block/vda/vda${n}/partition`] = String(n);
        files[`block/vda/vda${n}/dev`] = `252:${n}`;
        files[`block/vda/vda${n}/start`] = "2048";
        files[`block/vda/vda${n}/size`] = "2048";
      }
      // A second disk without a GPT (its read error is kept, not thrown).
      files["block/vdb/dev"] = "252:16";
      files["block/vdb/size"] = "8";
      files["block/vdb/queue/logical_block_size"] = "512";
      files["block/vdb/vdb1/partition"] = "1";
      files["block/vdb/vdb1/dev"] = "252:17";
      files["block/vdb/vdb1/start"] = "0";
      files["block/vdb/vdb1/size"] = "1";
      for (const [p, c] of Object.entries(files)) {
        await Deno.mkdir(`${sys}/${p}`.replace(/\/[^/]*$/, ""), { recursive: true });
        await Deno.writeTextFile(`${sys}/${p}`, c);
      }
      await Deno.writeFile(`${dev}/vdb`, new Uint8Array(4096));
      const variable = `${root}/LoaderDevicePartUUID`;
      await Deno.writeFile(variable, efivar(ESP_GUID.toUpperCase()));

      const facts = await bootDiskFacts({ sys, dev, loaderVariable: variable });
      assert.equal(facts.loaderPartUuid, ESP_GUID);
      assert.equal(facts.rootDisk, undefined); // this host's / is not on a fake disk
      assert.deepEqual(facts.disks.map((d) => d.name), ["vda", "vdb"]);
      assert.ok("error" in facts.disks[1].table);
      const plan = planBootDisk(facts);
      assert.equal(plan.disk, "vda");
      assert.equal(plan.esp.device, "/dev/vda1");
      assert.equal(plan.data.device, "/dev/vda3");
      assert.equal(plan.esp.sizeBytes, 16 * 1024 * 1024);

      // Without the variable: the only disk with ESP + data.
      const facts2 = await bootDiskFacts({ sys, dev, loaderVariable: `${root}/absent` });
      assert.equal(facts2.loaderPartUuid, undefined);
      assert.equal(planBootDisk(facts2).reason, "the only disk with an ESP and a data partition");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
