/**
 * Boot timing on this machine (numbers for the notes): builds the image (kernel cached), boots
 * the signed UKI `n` times (OVMF Secure Boot + swtpm + verity, TCG) and prints qemu start →
 * /init banner and → the agent's first console line, per boot and as medians.
 *
 * Usage: `deno run -A e2e/suites/boot/boottime.ts [n=3]`
 * @module
 */
import { detectAccel } from "../../launch/vm/accel.ts";
import { startVm } from "../../launch/vm/qemu.ts";
import { AGENT_FIRST_LINE, image, INIT_BANNER, SCALE } from "./image.ts";

const n = Number(Deno.args[0] ?? "3");
const img = await image();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const toInit: number[] = [];
const toAgent: number[] = [];
for (let i = 0; i < n; i++) {
  const vm = await startVm({
    stateDir: `${img.outDir}/timing-${i}`,
    disk: img.disk!,
    vars: img.ovmfVars!,
    snapshot: true,
    accel: await detectAccel(),
  });
  try {
    const a = await vm.waitFor(INIT_BANNER, 90_000 * SCALE);
    const b = await vm.waitFor(AGENT_FIRST_LINE, 90_000 * SCALE);
    toInit.push(a.ms / 1000);
    toAgent.push(b.ms / 1000);
    console.log(
      `boottime: boot ${i + 1}: /init ${toInit[i].toFixed(2)} s, agent ${toAgent[i].toFixed(2)} s`,
    );
  } finally {
    await vm.stop();
  }
}
console.log(
  `boottime: median of ${n}: qemu start → /init ${median(toInit).toFixed(2)} s, ` +
    `→ agent first line ${median(toAgent).toFixed(2)} s`,
);
