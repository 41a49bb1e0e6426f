/**
 * Tier 3 boot suite (image.md §5–§8, testing.md §3): OVMF with Secure Boot (SMM, test keys
 * enrolled) + swtpm boots the signed UKI from the launcher disk; the agent runs under /init (PID 1)
 * from the dm-verity root and uses the swtpm through /dev/tpmrm0. Negative tests: an unsigned UKI and an unsigned UKI with a changed
 * root hash are refused by the firmware; a signed UKI with a wrong root hash and a disk with one
 * flipped byte in the agent's data never run the agent.
 */
import assert from "node:assert/strict";
import { detectAccel } from "../../launch/vm/accel.ts";
import { startVm, type Vm } from "../../launch/vm/qemu.ts";
import {
  AGENT_FIRST_LINE,
  AGENT_SUPERVISOR,
  diskWith,
  erofsFileOffset,
  FIRMWARE_REFUSAL,
  flipByte,
  image,
  INIT_BANNER,
  NO_BOOT,
  partitionOffset,
  SCALE,
  ukiWithRootHash,
  VERITY_DATA_ERROR,
  VERITY_META_ERROR,
} from "./image.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
/** Boot to /init is ≈ 18 s on TCG with Secure Boot + swtpm + verity (workplace.md §6). */
const BOOT_TIMEOUT = 30_000 * SCALE;

async function withVm(name: string, disk: string, fn: (vm: Vm) => Promise<void>) {
  const img = await image();
  const vm = await startVm({
    stateDir: `${img.outDir}/vm-${name}`,
    disk,
    vars: img.ovmfVars!,
    snapshot: true,
    accel: await detectAccel(),
  });
  try {
    await fn(vm);
  } catch (e) {
    console.log(`console of ${name} (${vm.consoleLog}):\n${vm.console().slice(-3000)}`);
    throw e;
  } finally {
    await vm.stop();
  }
}

Deno.test(
  "signed UKI boots: agent runs under /init (PID 1) from the verity root",
  opts,
  async () => {
    const img = await image();
    await withVm("signed", img.disk!, async (vm) => {
      const init = await vm.waitFor(INIT_BANNER, BOOT_TIMEOUT);
      const first = await vm.waitFor(AGENT_FIRST_LINE, 60_000 * SCALE);
      const sup = await vm.waitFor(AGENT_SUPERVISOR, 60_000 * SCALE);
      // The VM platform's TPM seam (node.md §3): the swtpm behind tpm-tis answers through the
      // kernel's resource manager (openTpm does a GetRandom round trip before saying so).
      await vm.waitFor(/TPM: using \/dev\/tpmrm0/, 30_000 * SCALE);
      const out = vm.console();
      assert.doesNotMatch(out, /verity: .*corrupted/);
      assert.doesNotMatch(out, /init: agent exited/);
      assert.doesNotMatch(out, /Kernel panic/);
      console.log(
        `boot: qemu start → /init ${(init.ms / 1000).toFixed(1)} s, → agent first line ` +
          `${(first.ms / 1000).toFixed(1)} s, → supervisor ${(sup.ms / 1000).toFixed(1)} s`,
      );
    });
  },
);

Deno.test("unsigned UKI is refused by the firmware", opts, async () => {
  const img = await image();
  const disk = await diskWith(img, img.unsignedUkis.a, "unsigned");
  await withVm("unsigned", disk, async (vm) => {
    await vm.waitFor(FIRMWARE_REFUSAL, BOOT_TIMEOUT);
    await vm.waitFor(NO_BOOT, BOOT_TIMEOUT);
    assert.doesNotMatch(vm.console(), INIT_BANNER);
    assert.doesNotMatch(vm.console(), /Linux version|EFI stub/);
  });
});

Deno.test("changed root hash in an unsigned command line cannot boot", opts, async () => {
  const img = await image();
  const forged = img.system.rootHash.replace(/^./, (c) => (c === "0" ? "1" : "0"));
  const disk = await diskWith(img, await ukiWithRootHash(img, forged, false), "forged-roothash");
  await withVm("forged-roothash", disk, async (vm) => {
    await vm.waitFor(FIRMWARE_REFUSAL, BOOT_TIMEOUT);
    await vm.waitFor(NO_BOOT, BOOT_TIMEOUT);
    assert.doesNotMatch(vm.console(), INIT_BANNER);
  });
});

Deno.test("signed UKI with a wrong root hash never runs /init", opts, async () => {
  const img = await image();
  const wrong = img.system.rootHash.replace(/^./, (c) => (c === "0" ? "1" : "0"));
  const disk = await diskWith(img, await ukiWithRootHash(img, wrong, true), "wrong-roothash");
  await withVm("wrong-roothash", disk, async (vm) => {
    await vm.waitFor(VERITY_META_ERROR, BOOT_TIMEOUT);
    await vm.waitFor(/Kernel panic|VFS: Cannot open root device|No working init/, 60_000 * SCALE);
    assert.doesNotMatch(vm.console(), INIT_BANNER);
  });
});

Deno.test(
  "one flipped byte in the system partition stops the agent (verity I/O error)",
  opts,
  async () => {
    const img = await image();
    const disk = `${img.outDir}/flipped.img`;
    await new Deno.Command("cp", { args: ["--sparse=always", img.disk!, disk] }).output();
    const part = await partitionOffset(disk, "METROPOLIS-SYSTEM-A");
    // A byte inside the agent bundle's first compressed block: /init still runs, the agent not.
    const at = part + await erofsFileOffset(img.system.erofs, "/agent/agent.js") + 100;
    await flipByte(disk, at);
    await withVm("flipped", disk, async (vm) => {
      await vm.waitFor(INIT_BANNER, BOOT_TIMEOUT);
      await vm.waitFor(VERITY_DATA_ERROR, 60_000 * SCALE);
      await vm.waitFor(/init: agent exited/, 60_000 * SCALE);
      assert.doesNotMatch(vm.console(), AGENT_SUPERVISOR);
    });
  },
);
