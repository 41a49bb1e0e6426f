/** Tier-1 tests of the agent flags and the bring-up mount table. */
import assert from "node:assert/strict";
import { FlagError, namespaceMounts, parseAgentFlags, vmMounts } from "./mod.ts";

Deno.test("platform flags: defaults and valid namespace flags", () => {
  assert.deepEqual(parseAgentFlags([]), { platform: "vm" });
  assert.deepEqual(
    parseAgentFlags(["--platform=namespace", "--state=/s/n0", "--tpm-socket=/s/n0/tpm/sock"]),
    { platform: "namespace", state: "/s/n0", tpmSocket: "/s/n0/tpm/sock" },
  );
  assert.deepEqual(
    parseAgentFlags(["--platform=namespace", "--state=/s/n0", "--payloads=/s/payloads"]),
    { platform: "namespace", state: "/s/n0", payloads: "/s/payloads" },
  );
});

Deno.test("platform flags: every bad flag is one line naming it", () => {
  const bad: [string[], RegExp][] = [
    [["--platform=qemu"], /^--platform must be vm or namespace, got "qemu"$/],
    [["--platform=namespace"], /^--state=<dir> is required with --platform=namespace$/],
    [["--platform=namespace", "--state=rel/dir"], /^--state must be an absolute path$/],
    [["--state=/x"], /only valid with --platform=namespace/],
    [["--payloads=/x"], /only valid with --platform=namespace/],
    [["--platform=namespace", "--state=/s", "--payloads=x"], /^--payloads must be an absolute/],
    [["--bogus=1"], /^unknown flag --bogus/],
    [["platform=vm"], /^invalid argument "platform=vm": expected --name=value$/],
    [["--platform=vm", "--platform=vm"], /^flag --platform given twice$/],
  ];
  for (const [args, re] of bad) {
    try {
      parseAgentFlags(args);
      assert.fail(`accepted ${args.join(" ")}`);
    } catch (e) {
      assert.ok(e instanceof FlagError, `${args}: ${e}`);
      assert.match(e.message, re);
      assert.ok(!e.message.includes("\n"));
    }
  }
});

Deno.test("platform mounts: namespace nodes have no devtmpfs and no efivarfs", () => {
  const vm = vmMounts().map((m) => m.fstype);
  const ns = namespaceMounts().map((m) => m.fstype);
  assert.ok(vm.includes("devtmpfs") && vm.includes("efivarfs"));
  assert.deepEqual(ns, vm.filter((f) => f !== "devtmpfs" && f !== "efivarfs"));
  assert.deepEqual(
    namespaceMounts().map((m) => m.target),
    [
      "/proc",
      "/sys",
      "/dev/pts",
      "/dev/shm",
      "/sys/kernel/security",
      "/sys/fs/cgroup",
      "/tmp",
      "/run",
      "/ephemeral",
    ],
  );
});
