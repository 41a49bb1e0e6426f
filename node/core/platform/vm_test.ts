import assert from "node:assert/strict";
import { NodeStorageSecurity as S } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { VM_CAPABILITIES, VM_NO_BOOT_DISK, vmPlatform } from "./vm.ts";
import { kubernetesPayloadsPresent } from "./worker_host.ts";

const FULL = "Name:\tx\nCapBnd:\t000001ffffffffff\n";
const key = (security: S) => ({ security, key: new Uint8Array() });

Deno.test("vm platform: owns the machine — device-mapper, WireGuard, kexec, efivars, machine reboots", () => {
  const p = vmPlatform({ procStatus: FULL });
  assert.equal(p.capabilities, VM_CAPABILITIES);
  assert.deepEqual({ ...p.capabilities }, {
    encryption: true,
    wireguard: true,
    kexec: true,
    efivars: true,
    reboot: "machine",
  });
  assert.throws(() => (p.capabilities as { kexec: boolean }).kexec = false, TypeError);
  assert.deepEqual(p.workerHost("metropolis-ab12"), {
    cgroupRoot: "/",
    wireguard: true,
    restrictOomScoreAdj: false,
    // The image decides, not the platform: what this machine has.
    kubernetesPayloads: kubernetesPayloadsPresent(),
  });
  assert.equal(p.esp.path, "/esp");
});

Deno.test("vm platform: MountNew/MountExisting before the ESP mount found the boot disk fail clearly", async () => {
  // The ESP mount itself is not run here: on a machine with a real ESP it would mount it.
  const p = vmPlatform();
  for (const mount of [p.data.mountNew, p.data.mountExisting]) {
    for (const security of [S.INSECURE, S.ENCRYPTED, S.AUTHENTICATED_ENCRYPTED]) {
      await assert.rejects(mount(key(security)), (e: Error) => {
        assert.equal(e.message, VM_NO_BOOT_DISK);
        return true;
      });
    }
  }
});

Deno.test("vm platform: consoles are the devices that open, else stdout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vm-platform-test-" });
  try {
    assert.deepEqual(vmPlatform({ consoles: [`${dir}/tty0`] }).consoles(), [Deno.stdout]);
    await Deno.writeTextFile(`${dir}/ttyS0`, "");
    const sinks = vmPlatform({ consoles: [`${dir}/tty0`, `${dir}/ttyS0`] }).consoles();
    assert.equal(sinks.length, 1);
    sinks[0].writeSync(new TextEncoder().encode("hello\n"));
    (sinks[0] as Deno.FsFile).close();
    assert.equal(await Deno.readTextFile(`${dir}/ttyS0`), "hello\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
