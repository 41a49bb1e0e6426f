/**
 * installer suite on a VM (issue #14, image.md §10–§11): a bootstrap medium written by
 * `metroctl install genusb --bootstrap` from the core image's OCI layout plus an empty 9 GiB
 * disk boot under OVMF with Secure Boot; the installer writes the disk and reboots; the disk
 * then boots alone — firmware → "Metropolis A" → slot A UKI → verity root → agent. A second run
 * with an 8 GiB disk shows `couldn't find a suitable block device`. No network here: bootstrap,
 * takeownership and registering a second node need the launcher's switch (see the update suite).
 *
 * Everything runs under TCG; install time is printed.
 */
import assert from "node:assert/strict";
import { readGpt } from "../../../node/base/blockdev/gpt.ts";
import { startVm, type Vm } from "../../launch/vm/qemu.ts";
import { runMetroctl } from "../../../metroctl/testing.ts";
import { image, SCALE } from "../boot/image.ts";
import { genusbArgs } from "./fixtures.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const GiB = 1024 ** 3;

async function sparse(path: string, bytes: number): Promise<void> {
  using f = await Deno.open(path, { write: true, create: true, truncate: true });
  await f.truncate(bytes);
}

async function medium(dir: string): Promise<string> {
  const img = await image();
  const out = `${dir}/installer.img`;
  const r = await runMetroctl([
    `--config=${dir}/metroctl`,
    ...genusbArgs({ image: img.oci.dir, out, bootstrap: "cluster.test" }),
  ]);
  assert.equal(r.code, 0, r.stderr);
  return out;
}

function installerVm(dir: string, target: string, usb: string, vars: string): Promise<Vm> {
  return startVm({
    stateDir: `${dir}/vm-install`,
    disk: target,
    vars,
    tpm: false,
    extraArgs: ["-drive", `if=virtio,format=raw,cache=unsafe,file=${usb}`],
  });
}

Deno.test({
  name: "installer: a genusb bootstrap medium installs onto an empty disk, which then boots alone",
  ...opts,
  async fn() {
    const img = await image();
    const dir = await Deno.makeTempDir({ prefix: "installer-vm-" });
    const vms: Vm[] = [];
    try {
      const usb = await medium(dir);
      const target = `${dir}/disk.img`;
      await sparse(target, 9 * GiB);
      const t0 = performance.now();
      const vm = await installerVm(dir, target, usb, img.ovmfVars!);
      vms.push(vm);
      const done = await vm.waitFor(/Installation completed/, 900_000 * SCALE / 3);
      console.log(`installer vm: Installation completed after ${(done.ms / 1000).toFixed(1)} s`);
      const t = await readGpt(target, 512);
      assert.deepEqual(t.partitions.map((p) => p.name), [
        "ESP",
        "METROPOLIS-SYSTEM-A",
        "METROPOLIS-SYSTEM-B",
        "METROPOLIS-NODE-DATA",
      ]);
      // The installer reboots (QEMU exits, -no-reboot); the disk must then boot without the medium.
      const deadline = performance.now() + 60_000;
      while (vm.running() && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(!vm.running(), "the installer rebooted");
      const node = await startVm({
        stateDir: `${dir}/vm-node`,
        disk: target,
        vars: `${dir}/vm-install/vars.fd`, // the boot entry the installer created
        tpm: false,
      });
      vms.push(node);
      const up = await node.waitFor(/Metropolis agent starting \(platform vm/, 600_000 * SCALE / 3);
      console.log(
        `installer vm: installed disk boots the agent after ${(up.ms / 1000).toFixed(1)} s ` +
          `(install + boot ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
      );
      // The firmware took the installer's boot entry, not a fallback path.
      assert.match(
        node.console(),
        /BdsDxe: starting Boot[0-9A-F]{4} "Metropolis A" from HD\(1,GPT,[0-9A-F-]+,0x800,0xC0000\)\/\\EFI\\metropolis\\boot-a\.efi/,
      );
    } finally {
      for (const v of vms) await v.stop();
      if (!Deno.env.get("E2E_KEEP")) await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "installer: no disk of 8705 MiB → couldn't find a suitable block device, nothing written",
  ...opts,
  async fn() {
    const img = await image();
    const dir = await Deno.makeTempDir({ prefix: "installer-vm-small-" });
    let vm: Vm | undefined;
    try {
      const usb = await medium(dir);
      const target = `${dir}/small.img`;
      await sparse(target, 8 * GiB);
      vm = await installerVm(dir, target, usb, img.ovmfVars!);
      await vm.waitFor(/couldn't find a suitable block device/, 900_000 * SCALE / 3);
      const head = new Uint8Array(1024 * 1024);
      using f = await Deno.open(target);
      await f.read(head);
      assert.ok(head.every((b) => b === 0), "the small disk is untouched");
    } finally {
      await vm?.stop();
      if (!Deno.env.get("E2E_KEEP")) await Deno.remove(dir, { recursive: true });
    }
  },
});
