/**
 * core suite on VM nodes (testing.md §4.1, issue #13): 2 VMs from the signed core image (OVMF
 * Secure Boot, swtpm, TAP + DHCP on the launcher's switch), TPM REQUIRED, data partitions
 * NEEDS_ENCRYPTION_AND_AUTHENTICATION (dm-integrity + dm-crypt keyed by NUK ⊕ CUK), domain
 * `cluster.test`, subnet 10.1.56.0/24. The same steps as the namespace suite (directory, health,
 * logs, a value written before a reboot read back after it, metrics), plus: both nodes use their
 * TPM; and, on the same cluster, a node deleted from the cluster cannot unlock its data on its
 * next boot, because only JoinNode hands out the cluster's half of the key (CUK).
 *
 * Everything runs under TCG here (≈ 18 s to /init per boot); the launch time is printed.
 */
import assert from "node:assert/strict";
import { type Cluster, consoleSince, launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { stepAllHealthy } from "../steps.ts";
import { permanent, testEventual } from "../eventual.ts";
import { image } from "../boot/image.ts";
import { NodeTPMUsage } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { coreSteps, nodeIdOf } from "./core_steps.ts";

const SUBNET = "10.1.56.0/24";
const opts = { sanitizeOps: false, sanitizeResources: false };

let launched: Promise<{ c: Cluster; seconds: number }> | undefined;
let failures = 0;

/** The suite's cluster, launched once for both tests. */
function cluster(): Promise<{ c: Cluster; seconds: number }> {
  launched ??= (async () => {
    const img = await image();
    const started = performance.now();
    const c = await launchCluster(resolveOptions({
      mode: "vm",
      "num-nodes": 2,
      "tpm-mode": "required",
      "storage-security": "needs-encryption-and-authentication",
      "cluster-domain": "cluster.test",
      subnet: SUBNET,
      image: img.outDir,
      disk: "4G",
      ram: "2048M",
      "allow-reboot": true,
      // A failed run keeps the state (disks, consoles) for the post-mortem.
      keep: false,
    }));
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `core vm: 2 VM nodes (TCG) launched, "Cluster running!" after ${seconds.toFixed(1)} s`,
    );
    return { c, seconds };
  })();
  return launched;
}

Deno.test({
  name: "core: 2 VM nodes (Secure Boot, TPM, encrypted data) form a cluster, survive a reboot",
  ...opts,
  async fn() {
    let ok = false;
    try {
      const { c } = await cluster();
      const api = c.api!;
      await coreSteps(
        c,
        { healthy: 60, logs: 60, reboot: 600, metrics: 120 },
        async () => {
          await testEventual("both VM nodes use their TPM", 30, async () => {
            for (const n of await api.nodes()) {
              assert.equal(
                n.tpmUsage,
                NodeTPMUsage.NODE_TPM_USAGE_PRESENT_AND_USED,
                `${n.id} TPM usage`,
              );
            }
          });
        },
      );
      ok = true;
    } finally {
      if (!ok) failures++;
    }
  },
});

Deno.test({
  name: "a node deleted from the cluster cannot unlock its data on the next boot (no CUK)",
  ...opts,
  async fn() {
    let ok = false;
    let c: Cluster | undefined;
    try {
      c = (await cluster()).c;
      const api = c.api!;
      await stepAllHealthy(api, 2, 600, "both nodes HEALTHY before the deletion");
      const n1 = await nodeIdOf(c, 1);
      // Powered off, so the node keeps its sealed configuration (NUK, join key) on its ESP; the
      // cluster forgets it, and with it the node's CUK.
      await c.shutdownNode(1);
      await testEventual("DeleteNode(node 1) while it is off", 60, async () => {
        await api.management((m) =>
          m.deleteNode({ node: { case: "id", value: n1 }, safetyBypassNotDecommissioned: {} })
        );
      });
      await testEventual("node 1 is gone from GetNodes", 30, async () => {
        const ids = (await api.nodes()).map((n) => n.id);
        assert.ok(!ids.includes(n1), `GetNodes still lists ${n1}`);
      });
      const log = c.vms[1].consolePath;
      const before = (await Deno.stat(log)).size;
      const boot = () => consoleSince(log, before);
      await c.startNode(1);
      await testEventual("node 1 boots, JoinNode is refused, enrolment gives up", 600, async () => {
        const text = await boot();
        if (/Cluster enrolment done\.|joined the cluster as/.test(text)) {
          throw permanent(`node 1 joined after its deletion:\n${text.slice(-2000)}`);
        }
        assert.match(
          text,
          /enrolment failed permanently: node is no longer a member of the cluster/,
          "node 1 says why it cannot join",
        );
      });
      const text = await boot();
      assert.match(text, /Metropolis agent starting \(platform vm/, "the node really booted again");
      // Refused before any unlock attempt: without the CUK there is no key to try.
      assert.doesNotMatch(text, /MountExisting/);
      // It must not come back as a new node either (its parameters would register it again only
      // without a sealed configuration).
      await new Promise((r) => setTimeout(r, 20_000));
      const ids = (await api.nodes()).map((n) => n.id);
      assert.deepEqual(ids, [await nodeIdOf(c, 0)], "only node 0 is in the cluster");
      await stepAllHealthy(api, 1, 60, "node 0 still HEALTHY");
      ok = true;
    } finally {
      if (!ok) failures++;
      await c?.close(failures === 0);
    }
  },
});
