import assert from "node:assert/strict";
import { hasSysResource, workerHost } from "./worker_host.ts";

const FULL = "Name:\tx\nCapBnd:\t000001ffffffffff\n";
const NO_SYS_RESOURCE = "CapBnd:\t000001fffeffffff\n";

Deno.test("worker host: a namespace node gets its own cgroup root and no WireGuard", () => {
  assert.deepEqual(workerHost({ platform: "namespace" }, "metropolis-ab12", FULL), {
    cgroupRoot: "/metropolis-metropolis-ab12",
    wireguard: false,
    restrictOomScoreAdj: false,
  });
});

Deno.test("worker host: a VM owns the machine", () => {
  assert.deepEqual(workerHost({ platform: "vm" }, "metropolis-ab12", FULL), {
    cgroupRoot: "/",
    wireguard: true,
    restrictOomScoreAdj: false,
  });
});

Deno.test("worker host: no CAP_SYS_RESOURCE → containerd restricts OOM score changes", () => {
  assert.equal(hasSysResource(NO_SYS_RESOURCE), false);
  assert.equal(
    workerHost({ platform: "namespace" }, "n", NO_SYS_RESOURCE).restrictOomScoreAdj,
    true,
  );
  assert.throws(() => hasSysResource("Name: x\n"), /no CapBnd/);
  assert.throws(() => workerHost({ platform: "vm" }, "../x", FULL), /bad node ID/);
});
