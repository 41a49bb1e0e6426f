/**
 * Boots one node VM from a launcher disk image and streams its serial console to stdout until
 * the VM stops or Ctrl-C (`bazel run //:launch-node`).
 *
 * Usage: `deno run -A e2e/launch/vm/launch_node.ts --disk=<disk.img> --vars=<ovmf vars>
 * [--state=<dir>] [--ram=<MiB>] [--parameters=<NodeParameters .pb>] [--no-tpm]`; parameters go
 * through fw_cfg. The disk is copied into the state directory first,
 * so the build output stays unchanged.
 * @module
 */
import { startVm } from "./qemu.ts";

const flags: Record<string, string> = {};
for (const a of Deno.args) {
  const m = /^--(disk|vars|state|ram|parameters)=(.+)$/.exec(a);
  if (m) flags[m[1]] = m[2];
  else if (a === "--no-tpm") flags.noTpm = "1";
  else {
    console.error(`launch-node: unknown argument ${JSON.stringify(a)}`);
    Deno.exit(2);
  }
}
if (!flags.disk || !flags.vars) {
  console.error("launch-node: --disk=<disk.img> and --vars=<ovmf-vars.fd> are required");
  Deno.exit(2);
}
const state = flags.state ?? await Deno.makeTempDir({ prefix: "mkimg-node-" });
const disk = `${state}/disk.img`;
console.log(`launch-node: state ${state}`);
const cp = await new Deno.Command("cp", {
  args: ["--sparse=always", await Deno.realPath(flags.disk), disk],
}).output();
if (!cp.success) throw new Error(`launch-node: copying ${flags.disk} failed`);
const vm = await startVm({
  stateDir: state,
  disk,
  vars: await Deno.realPath(flags.vars),
  tpm: !flags.noTpm,
  ramMiB: flags.ram ? Number(flags.ram) : undefined,
  parameters: flags.parameters ? await Deno.realPath(flags.parameters) : undefined,
});
Deno.addSignalListener("SIGINT", async () => {
  await vm.stop();
  Deno.exit(130);
});
let shown = 0;
while (vm.running()) {
  const text = vm.console();
  if (text.length > shown) {
    await Deno.stdout.write(new TextEncoder().encode(text.slice(shown)));
    shown = text.length;
  }
  await new Promise((r) => setTimeout(r, 200));
}
await Deno.stdout.write(new TextEncoder().encode(vm.console().slice(shown)));
await vm.stop();
console.log(`launch-node: VM stopped (console ${vm.consoleLog})`);
