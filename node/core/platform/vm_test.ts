import assert from "node:assert/strict";
import { NodeStorageSecurity } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { VM_CAPABILITIES, VM_DATA_UNAVAILABLE, vmPlatform } from "./vm.ts";

const FULL = "Name:\tx\nCapBnd:\t000001ffffffffff\n";
const key = (security: NodeStorageSecurity) => ({ security, key: new Uint8Array() });

Deno.test("vm platform: owns the machine — WireGuard, kexec, efivars, machine reboots", () => {
  const p = vmPlatform({ procStatus: FULL });
  assert.equal(p.capabilities, VM_CAPABILITIES);
  assert.deepEqual({ ...p.capabilities }, {
    encryption: false, // until device-mapper lands (issue #13)
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
  });
  assert.equal(p.esp.path, "/esp");
});

Deno.test("vm platform: MountNew/MountExisting fail clearly instead of writing to the root", async () => {
  const p = vmPlatform();
  for (const mount of [p.data.mountNew, p.data.mountExisting]) {
    await assert.rejects(mount(key(NodeStorageSecurity.INSECURE)), (e: Error) => {
      assert.equal(e.message, VM_DATA_UNAVAILABLE);
      return true;
    });
    await assert.rejects(
      mount(key(NodeStorageSecurity.ENCRYPTED)),
      /ENCRYPTED is not available on this platform/,
    );
  }
  const lines: string[] = [];
  await p.esp.mount((l) => lines.push(l));
  assert.deepEqual(lines, [
    "ESP: not mounted (finding it on the boot disk is not implemented on VMs yet)",
  ]);
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
