/** Tier 1: the launcher's VM node — command line, boot milestones, exit reports, a real QEMU run. */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { NodeParametersSchema } from "../../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import { bootMilestone, describeVmExit, vmArgv, VmNode, type VmNodeOptions } from "./node.ts";
import { OVMF_CODE } from "./qemu.ts";
import type { NodeExit } from "../cluster_node.ts";
import { run, tryRun } from "../exec.ts";
import { blankDisk } from "./disk.ts";

const base: VmNodeOptions = {
  index: 1,
  dir: "/s/nodes/1",
  makeDisk: () => Promise.resolve(),
  makeVars: () => Promise.resolve(),
  tap: "metro56t1",
  mac: "52:54:00:01:00:03",
  ramMiB: 2048,
  cpus: 1,
  threads: 1,
  accel: "tcg",
  tpm: true,
  allowReboot: true,
  echo: false,
};

Deno.test("VM node argv: own session, dies with the launcher, Secure Boot, node files, TAP, fw_cfg", () => {
  const argv = vmArgv(base, { parameters: "/s/nodes/1/parameters.pb", tpmSocket: "/t/sock" });
  assert.deepEqual(argv.slice(0, 5), [
    "setsid",
    "setpriv",
    "--pdeathsig",
    "KILL",
    "qemu-system-x86_64",
  ]);
  const a = argv.join(" ");
  assert.ok(a.includes(`if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`));
  assert.ok(a.includes("if=pflash,format=raw,unit=1,file=/s/nodes/1/vars.fd"));
  assert.ok(a.includes("if=virtio,format=raw,cache=unsafe,file=/s/nodes/1/disk.img "));
  assert.doesNotMatch(a, /snapshot=on/, "a node's disk keeps what it writes");
  assert.ok(a.includes("-netdev tap,id=n0,ifname=metro56t1,script=no,downscript=no"));
  assert.ok(a.includes("virtio-net-pci,netdev=n0,mac=52:54:00:01:00:03"));
  assert.ok(a.includes("-chardev socket,id=chrtpm,path=/t/sock"));
  assert.ok(a.includes("name=dev.monogon.metropolis/parameters.pb,file=/s/nodes/1/parameters.pb"));
  assert.ok(a.includes("-serial stdio"));
  assert.ok(a.includes("-no-reboot"));
  assert.match(a, /-accel tcg -cpu max -m 2048 -smp 1,cores=1,threads=1 /);
  const bare = vmArgv({ ...base, tpm: false }).join(" ");
  assert.doesNotMatch(bare, /fw_cfg|tpm/);
});

Deno.test("boot milestones: firmware, kernel, /init, agent, lease, enrolment outcome", () => {
  const cases: [string, string | undefined][] = [
    ['BdsDxe: loading Boot0001 "UEFI Misc Device" from PciRoot(0x0)', "firmware starts the UKI"],
    ["[    0.000000] Linux version 6.1.192 (root@build) #1 SMP", "kernel started"],
    ["init: Metropolis 0.1.0 starting (pid 1)", "/init started"],
    ["                init I Metropolis agent starting (platform vm, pid 220)", "agent started"],
    [" root.network.dhcp I eth0: leased 10.1.56.3/24 from 10.1.56.1", "eth0 leased 10.1.56.3/24"],
    [
      "  root.enrolment E enrolment failed: the data partition is not implemented; retrying in 500 ms",
      "enrolment failed: the data partition is not implemented; retrying in 500 ms",
    ],
    ["  root.enrolment I Cluster enrolment done.", "enrolled"],
    [
      "  root.enrolment I joined the cluster as metropolis-ab12 from the sealed configuration",
      "rejoined from its sealed configuration",
    ],
    ["init: agent exited: signal 6", "init: agent exited: signal 6"],
    ["  root.curator I serving", undefined],
  ];
  for (const [line, want] of cases) assert.equal(bootMilestone(line), want, line);
});

Deno.test("VM exit: guest reboot restarts, power-off and QEMU failures do not", () => {
  const ok = { code: 0, signal: null };
  assert.deepEqual(describeVmExit(ok, ["x", "[ 9.1] reboot: Restarting system"]), {
    description: "guest rebooted (reboot request)",
    reboot: true,
  });
  assert.deepEqual(describeVmExit(ok, ["[ 9.1] reboot: Power down"]), {
    description: "guest powered off",
    reboot: false,
  });
  assert.equal(describeVmExit({ code: 1, signal: null }, []).description, "QEMU exit status 1");
  assert.equal(describeVmExit({ code: 0, signal: "SIGKILL" }, []).reboot, false);
  assert.equal(describeVmExit(ok, []).reboot, false);
});

const root = Deno.uid() === 0;
const qemu = await tryRun("qemu-system-x86_64", ["--version"]);
if (!root || !qemu) {
  console.log(`skipped: VM node run: ${!root ? "needs root (TAP device)" : "qemu not installed"}`);
}

Deno.test({
  name: "VM node run: firmware console is captured, swtpm started, kill ends QEMU without a report",
  ignore: !root || !qemu,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "launch-vmnode-test-" });
    const tap = `lvt${Deno.pid % 100000}`;
    await run("ip", ["tuntap", "add", "dev", tap, "mode", "tap"]);
    try {
      const exits: NodeExit[] = [];
      const milestones: string[] = [];
      const node = new VmNode({
        ...base,
        dir: `${dir}/nodes/0`,
        index: 0,
        tap,
        ramMiB: 256,
        // An empty disk: OVMF finds nothing to boot and says so on the console.
        makeDisk: async (p) => {
          const f = await Deno.open(p, { create: true, write: true });
          await f.truncate(64 * 1024 * 1024);
          f.close();
        },
        makeVars: (p) => Deno.copyFile("/usr/share/OVMF/OVMF_VARS_4M.fd", p),
        onExit: (e) => exits.push(e),
        onMilestone: (m) => milestones.push(m),
      });
      await node.prepare(create(NodeParametersSchema, {}));
      const medium = `${dir}/medium.img`;
      await blankDisk(medium, 1);
      node.insertMedium(medium);
      await node.start();
      assert.equal(node.running, true);
      const deadline = Date.now() + 120_000;
      while (!node.tail.some((l) => /BdsDxe/.test(l))) {
        if (!node.running) throw new Error(`QEMU ended early:\n${node.tail.join("\n")}`);
        if (Date.now() > deadline) throw new Error(`no firmware output:\n${node.tail.join("\n")}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      // QEMU runs now (setsid and setpriv exec'd it): the medium is attached, read-only.
      const argv = async () =>
        (await Deno.readTextFile(`/proc/${node.qemuPid}/cmdline`)).split("\0").join(" ");
      assert.ok((await argv()).includes(`if=virtio,format=raw,readonly=on,file=${medium}`));
      const swtpmPid = Number((await Deno.readTextFile(`${dir}/nodes/0/tpm/swtpm.pid`)).trim());
      assert.ok(swtpmPid > 0, "swtpm of this boot is running");
      await node.kill();
      assert.equal(node.running, false);
      assert.deepEqual(exits, [], "a kill is not reported as an unexpected end");
      assert.equal(node.boots, 1);
      const log = await Deno.readTextFile(node.consolePath);
      assert.match(log, /BdsDxe/);
      assert.doesNotMatch(log, /\r/, "console lines are stored without carriage returns");
      // swtpm --terminate exits once QEMU is gone.
      for (let i = 0; i < 50 && (await tryRun("kill", ["-0", String(swtpmPid)])); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(await tryRun("kill", ["-0", String(swtpmPid)]), false, "swtpm ended");
      // The medium was for that boot only: the next one runs without it.
      await node.start();
      let next = "";
      for (let i = 0; i < 100 && !next.includes("qemu-system"); i++) {
        await new Promise((r) => setTimeout(r, 100));
        next = await argv().catch(() => "");
      }
      assert.match(next, /qemu-system/);
      assert.ok(!next.includes(medium), next);
      await node.kill();
    } finally {
      await run("ip", ["link", "del", tap]).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
