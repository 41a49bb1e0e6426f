/** Tier 1: the kept-state record and the checks of `--keep-state` (kept.ts). */
import assert from "node:assert/strict";
import {
  coldStartBlocker,
  LAUNCH_RECORD,
  launchRecord,
  resumeOptions,
  writeLaunchRecord,
} from "./kept.ts";
import { resolveOptions, UsageError } from "./options.ts";
import { placeholderDisk, writeEspFile } from "./vm/esp_fixture.ts";

Deno.test("kept state: launch.json round trip, every missing piece is a one-line UsageError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "metro-kept-" });
  try {
    const first = resolveOptions({
      "state-dir": dir,
      "num-nodes": 2,
      subnet: "10.1.72.0/24",
      storage: "loop",
      tpm: "none",
      "tpm-mode": "disabled",
      "consensus-member": "1",
    });
    const again = resolveOptions({ "state-dir": dir, "keep-state": true, console: true });
    const fails = async (re: RegExp) => {
      await assert.rejects(resumeOptions(again), (e) => {
        assert.ok(e instanceof UsageError, String(e));
        assert.ok(!e.message.includes("\n"));
        assert.match(e.message, re);
        return true;
      });
    };
    await fails(/^--keep-state: no kept cluster in .*: no launch\.json$/);
    await writeLaunchRecord(first);
    await fails(/metroctl\/owner-key\.pem missing$/);
    await Deno.mkdir(`${dir}/metroctl`);
    for (const f of ["owner-key.pem", "owner.pem", "ca.pem"]) {
      await Deno.writeTextFile(`${dir}/metroctl/${f}`, "x");
    }
    await fails(/node 0 has no sealed configuration$/);
    for (const i of [0, 1]) {
      await Deno.mkdir(`${dir}/nodes/${i}/esp/metropolis`, { recursive: true });
      await Deno.writeFile(
        `${dir}/nodes/${i}/esp/metropolis/sealed_configuration.pb`,
        new Uint8Array(1),
      );
    }
    const o = await resumeOptions(again);
    assert.equal(o.numNodes, 2);
    assert.equal(o.subnet.cidr, "10.1.72.0/24");
    assert.equal(o.storage, "loop");
    assert.equal(o.tpm, "none");
    assert.equal(o.tpmMode, "disabled");
    assert.deepEqual(o.consensusMember, [], "roles are already in the cluster");
    assert.equal(o.console, true, "flags about this run stay");
    assert.deepEqual(
      JSON.parse(await Deno.readTextFile(`${dir}/${LAUNCH_RECORD}`)),
      launchRecord(first),
    );
    await Deno.writeTextFile(`${dir}/${LAUNCH_RECORD}`, "{}");
    await fails(/launch\.json is not a launch record$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kept VM cluster: mode from launch.json, sealed configuration looked up inside each disk", async () => {
  const dir = await Deno.makeTempDir({ prefix: "metro-kept-vm-" });
  try {
    const first = resolveOptions({
      "state-dir": dir,
      "num-nodes": 1,
      mode: "vm",
      subnet: "10.1.73.0/24",
      "tpm-mode": "required",
      "storage-security": "needs-insecure",
    });
    await writeLaunchRecord(first);
    await Deno.mkdir(`${dir}/metroctl`);
    for (const f of ["owner-key.pem", "owner.pem", "ca.pem"]) {
      await Deno.writeTextFile(`${dir}/metroctl/${f}`, "x");
    }
    // The CLI's default mode (namespace for `deno task launch`) does not matter: the record says vm.
    const again = resolveOptions({ "state-dir": dir, "keep-state": true });
    await assert.rejects(resumeOptions(again), /node 0 has no sealed configuration$/);
    await Deno.mkdir(`${dir}/nodes/0`, { recursive: true });
    // A disk the node never enrolled from: an ESP without the sealed configuration.
    const disk = await placeholderDisk(`${dir}/nodes/0`);
    await assert.rejects(resumeOptions(again), /node 0 has no sealed configuration$/);
    // A directory ESP next to the disk is not what a VM boots from.
    await Deno.mkdir(`${dir}/nodes/0/esp/metropolis`, { recursive: true });
    await Deno.writeFile(
      `${dir}/nodes/0/esp/metropolis/sealed_configuration.pb`,
      new Uint8Array(1),
    );
    await assert.rejects(resumeOptions(again), /node 0 has no sealed configuration$/);
    await Deno.writeFile(`${dir}/sealed.pb`, new Uint8Array([1, 2, 3]));
    await writeEspFile(disk, "metropolis/sealed_configuration.pb", `${dir}/sealed.pb`);
    const o = await resumeOptions(again);
    assert.equal(o.mode, "vm");
    assert.equal(o.numNodes, 1);
    assert.equal(o.subnet.cidr, "10.1.73.0/24");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kept state: a VM cluster with encrypted data cannot start cold and says why; namespace and INSECURE VM clusters can", async () => {
  assert.equal(coldStartBlocker("vm", "needs-insecure"), undefined);
  assert.equal(coldStartBlocker("namespace", "needs-encryption-and-authentication"), undefined);
  for (
    const s of ["permissive", "needs-encryption", "needs-encryption-and-authentication"] as const
  ) {
    assert.match(coldStartBlocker("vm", s)!, /running curator.*needs-insecure/);
  }
  const dir = await Deno.makeTempDir({ prefix: "metro-kept-" });
  try {
    await writeLaunchRecord(resolveOptions({
      mode: "vm",
      "state-dir": dir,
      "num-nodes": 2,
      "storage-security": "needs-encryption-and-authentication",
    }));
    await assert.rejects(
      resumeOptions(resolveOptions({ "state-dir": dir, "keep-state": true })),
      (e) => {
        assert.ok(e instanceof UsageError, String(e));
        assert.ok(!e.message.includes("\n"));
        assert.match(e.message, /cannot start again: its nodes encrypt their data/);
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
