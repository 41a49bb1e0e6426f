import assert from "node:assert/strict";
import { hasSysResource, kubernetesPayloadsPresent, workerHost } from "./worker_host.ts";

const FULL = "Name:\tx\nCapBnd:\t000001ffffffffff\n";
const NO_SYS_RESOURCE = "CapBnd:\t000001fffeffffff\n";

Deno.test("worker host: a node sharing the host's cgroups gets its own cgroup root", () => {
  assert.deepEqual(
    workerHost({ sharedCgroups: true, wireguard: false }, "metropolis-ab12", FULL, () => true),
    {
      cgroupRoot: "/metropolis-metropolis-ab12",
      wireguard: false,
      restrictOomScoreAdj: false,
      kubernetesPayloads: true,
    },
  );
});

Deno.test("worker host: a node owning its cgroups gets the root, WireGuard as offered", () => {
  assert.deepEqual(
    workerHost({ sharedCgroups: false, wireguard: true }, "metropolis-ab12", FULL, () => true),
    {
      cgroupRoot: "/",
      wireguard: true,
      restrictOomScoreAdj: false,
      kubernetesPayloads: true,
    },
  );
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

Deno.test("worker host: the payload capability is the presence of the kube binary", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(kubernetesPayloadsPresent(`${dir}/kube`), false);
    await Deno.writeTextFile(`${dir}/kube`, "");
    assert.equal(kubernetesPayloadsPresent(`${dir}/kube`), true);
    assert.equal(
      workerHost({ sharedCgroups: false, wireguard: true }, "n", FULL, () => false)
        .kubernetesPayloads,
      false,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
