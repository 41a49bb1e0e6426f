import assert from "node:assert/strict";
import { hasSysResource, workerHost } from "./worker_host.ts";

const FULL = "Name:\tx\nCapBnd:\t000001ffffffffff\n";
const NO_SYS_RESOURCE = "CapBnd:\t000001fffeffffff\n";

Deno.test("worker host: a node sharing the host's cgroups gets its own cgroup root", () => {
  assert.deepEqual(workerHost({ sharedCgroups: true, wireguard: false }, "metropolis-ab12", FULL), {
    cgroupRoot: "/metropolis-metropolis-ab12",
    wireguard: false,
    restrictOomScoreAdj: false,
  });
});

Deno.test("worker host: a node owning its cgroups gets the root, WireGuard as offered", () => {
  assert.deepEqual(workerHost({ sharedCgroups: false, wireguard: true }, "metropolis-ab12", FULL), {
    cgroupRoot: "/",
    wireguard: true,
    restrictOomScoreAdj: false,
  });
});

Deno.test("worker host: no CAP_SYS_RESOURCE → containerd restricts OOM score changes", () => {
  assert.equal(hasSysResource(NO_SYS_RESOURCE), false);
  assert.equal(
    workerHost({ sharedCgroups: true, wireguard: false }, "n", NO_SYS_RESOURCE).restrictOomScoreAdj,
    true,
  );
  assert.throws(() => hasSysResource("Name: x\n"), /no CapBnd/);
  assert.throws(
    () => workerHost({ sharedCgroups: false, wireguard: true }, "../x", FULL),
    /bad node ID/,
  );
});
