/**
 * Tier 3 boot suite (image.md §5–§8, testing.md §3): OVMF with Secure Boot (SMM, test keys
 * enrolled) + swtpm boots the signed UKI from the launcher disk; the agent runs under /init (PID 1)
 * from the dm-verity root, uses the swtpm through /dev/tpmrm0 and leases its address over DHCP
 * from the launcher's switch on a TAP NIC. Negative tests: an unsigned UKI and an unsigned UKI with a changed
 * root hash are refused by the firmware; a signed UKI with a wrong root hash and a disk with one
 * flipped byte in the agent's data never run the agent.
 */
import assert from "node:assert/strict";
import { detectAccel } from "../../launch/vm/accel.ts";
import { startVm, type Vm } from "../../launch/vm/qemu.ts";
import { DhcpServer } from "../../launch/dhcp.ts";
import { bridgeName, nodeAddress, nodeMac, Topology } from "../../launch/net.ts";
import { parseSubnet } from "../../launch/options.ts";
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
/** The boot suite's node network (other suites use 10.1.41–49). */
const SUBNET = "10.1.40.0/24";
/** Boot to /init is ≈ 18 s on TCG with Secure Boot + swtpm + verity (workplace.md §6). */
const BOOT_TIMEOUT = 30_000 * SCALE;

async function withVm(
  name: string,
  disk: string,
  fn: (vm: Vm) => Promise<void>,
  extraArgs?: string[],
) {
  const img = await image();
  const vm = await startVm({
    stateDir: `${img.outDir}/vm-${name}`,
    disk,
    vars: img.ovmfVars!,
    snapshot: true,
    accel: await detectAccel(),
    extraArgs,
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
  "signed UKI boots: agent runs under /init (PID 1) from the verity root, TPM and DHCP work",
  opts,
  async () => {
    const img = await image();
    // The VM's NIC is a TAP on a launcher bridge with the launcher's DHCP server (testing.md
    // §2.3), so the agent's network service runs against a real virtio-net device.
    const subnet = parseSubnet(SUBNET);
    const topo = new Topology(subnet, `/tmp/metropolis-launch-${bridgeName(subnet)}.lock`);
    await topo.up();
    let dhcp: DhcpServer | undefined;
    try {
      const tap = await topo.addTap(0);
      dhcp = DhcpServer.start(
        topo.bridge,
        subnet,
        new Map([[nodeMac(0), nodeAddress(subnet, 0)]]),
      );
      const nic = [
        "-netdev",
        `tap,id=n0,ifname=${tap},script=no,downscript=no`,
        "-device",
        `virtio-net-pci,netdev=n0,mac=${nodeMac(0)}`,
      ];
      await withVm("signed", img.disk!, async (vm) => {
        const init = await vm.waitFor(INIT_BANNER, BOOT_TIMEOUT);
        const first = await vm.waitFor(AGENT_FIRST_LINE, 60_000 * SCALE);
        const sup = await vm.waitFor(AGENT_SUPERVISOR, 60_000 * SCALE);
        // The VM platform's TPM seam (node.md §3): the swtpm behind tpm-tis answers through the
        // kernel's resource manager (openTpm does a GetRandom round trip before saying so).
        await vm.waitFor(/TPM: using \/dev\/tpmrm0/, 30_000 * SCALE);
        // The network seam (node.md §15): DHCP over FFI sockets, address and route over netlink.
        const addr = nodeAddress(subnet, 0);
        const lease = await vm.waitFor(
          new RegExp(`eth0: leased ${addr.replaceAll(".", "\\.")}/24 from ${topo.gateway}`),
          30_000 * SCALE,
        );
        assert.ok(await pingable(addr), `${addr} answers ping from the host`);
        const out = vm.console();
        assert.doesNotMatch(out, /verity: .*corrupted/);
        assert.doesNotMatch(out, /init: agent exited/);
        assert.doesNotMatch(out, /Kernel panic/);
        console.log(
          `boot: qemu start → /init ${(init.ms / 1000).toFixed(1)} s, → agent first line ` +
            `${(first.ms / 1000).toFixed(1)} s, → supervisor ${(sup.ms / 1000).toFixed(1)} s, ` +
            `→ DHCP lease ${(lease.ms / 1000).toFixed(1)} s`,
        );
      }, nic);
    } finally {
      await dhcp?.close();
      await topo.down();
    }
  },
);

/** Whether `addr` answers one ping within 2 s (three tries). */
async function pingable(addr: string): Promise<boolean> {
  for (let i = 0; i < 3; i++) {
    const r = await new Deno.Command("ping", {
      args: ["-c", "1", "-W", "2", addr],
      stdout: "null",
      stderr: "null",
    }).output();
    if (r.success) return true;
  }
  return false;
}

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
