import assert from "node:assert/strict";
import { matchConsole, OVMF_CODE, qemuArgs } from "./qemu.ts";

Deno.test("qemuArgs: Secure Boot OVMF with SMM, per-VM VARS, TPM, serial file, no NIC", () => {
  const a = qemuArgs(
    {
      stateDir: "/s",
      disk: "/d.img",
      vars: "/v.fd",
      snapshot: true,
      parameters: "/p.pb",
      media: ["/usb.img"],
    },
    "/s/tpm/sock",
  ).join(" ");
  assert.match(a, /-machine q35,smm=on -accel tcg -cpu max/);
  assert.match(a, /driver=cfi\.pflash01,property=secure,value=on/);
  assert.ok(a.includes(`unit=0,readonly=on,file=${OVMF_CODE}`));
  assert.ok(a.includes("unit=1,file=/s/vars.fd"));
  assert.ok(a.includes("file=/d.img,snapshot=on"));
  // An installer medium follows the node disk (so the node disk is vda) and is write-protected.
  assert.match(
    a,
    /file=\/d\.img,snapshot=on -drive if=virtio,format=raw,readonly=on,file=\/usb\.img /,
  );
  assert.ok(a.includes("-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0"));
  assert.ok(a.includes("-serial file:/s/console.log"));
  assert.ok(a.includes("name=dev.monogon.metropolis/parameters.pb,file=/p.pb"));
  assert.ok(a.includes("-nic none"));
});

Deno.test("qemuArgs: KVM uses the host CPU, an explicit netdev replaces -nic none", () => {
  const a = qemuArgs({
    stateDir: "/s",
    disk: "/d.img",
    vars: "/v.fd",
    accel: "kvm",
    extraArgs: ["-netdev", "user,id=n0,restrict=on"],
  }).join(" ");
  assert.match(a, /-accel kvm -cpu host/);
  assert.doesNotMatch(a, /-nic none/);
  assert.doesNotMatch(a, /tpm/);
});

Deno.test("qemuArgs: launcher node — TAP NIC with the node's MAC, cores × threads, console on stdout", () => {
  const a = qemuArgs({
    stateDir: "/s",
    disk: "/s/disk.img",
    vars: "/v.fd",
    cpus: 2,
    threads: 2,
    ramMiB: 1536,
    serial: "stdio",
    nic: { tap: "metro56t1", mac: "52:54:00:01:00:03" },
  }).join(" ");
  assert.match(a, /-m 1536 -smp 4,cores=2,threads=2 /);
  assert.ok(a.includes("-serial stdio"));
  assert.doesNotMatch(a, /console\.log/);
  assert.ok(a.includes("-netdev tap,id=n0,ifname=metro56t1,script=no,downscript=no"));
  assert.ok(a.includes("-device virtio-net-pci,netdev=n0,mac=52:54:00:01:00:03"));
  assert.doesNotMatch(a, /-nic none/);
  assert.ok(a.includes("-no-reboot"), "a guest reboot ends QEMU; the launcher restarts the node");
});

Deno.test("matchConsole: complete lines only while QEMU runs, everything once it exited", () => {
  const re = /unusable: .*/;
  const partial = "boot\r\nroot E unusable: TPM_RC_POLI";
  assert.equal(matchConsole(partial, re, false), null, "a line half-written is not matched");
  assert.equal(
    matchConsole(`${partial}CY_FAIL (0x99d)\r\n`, re, false)?.[0],
    "unusable: TPM_RC_POLICY_FAIL (0x99d)",
  );
  assert.equal(matchConsole(partial, re, true)?.[0], "unusable: TPM_RC_POLI");
  assert.equal(matchConsole("", re, false), null);
});
