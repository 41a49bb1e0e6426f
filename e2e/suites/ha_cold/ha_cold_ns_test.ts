/**
 * ha_cold suite on namespace nodes (testing.md §4.3): 3 nodes, TPM DISABLED, NEEDS_INSECURE.
 * Cold start of the whole cluster, then node 0 leaves the control plane and is deleted, and the
 * remaining two survive another cold start. A node label written before the faults is read back.
 */
import assert from "node:assert/strict";
import { launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { stepAllHealthy, stepConsensusMembers } from "../steps.ts";
import { testEventual } from "../eventual.ts";

Deno.test({
  name: "ha_cold: cold starts, node 0 leaves the control plane and is deleted",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = await launchCluster(resolveOptions({
      "num-nodes": 3,
      "tpm-mode": "disabled",
      "storage-security": "needs-insecure",
      subnet: "10.1.43.0/24",
      tpm: "none",
      // A node whose agent dies reboots and rejoins, as a real node would (Deno's HTTP/2 can abort
      // on GOAWAY races; the cluster must ride through such restarts).
      "allow-reboot": true,
    }));
    let ok = false;
    try {
      const api = c.api!;
      const ids = await c.nodeIds();
      await stepConsensusMembers(api, ids, [1, 2]);
      await stepAllHealthy(api, 3, 20);
      await api.management((m) =>
        m.updateNodeLabels({
          node: { case: "id", value: ids[1] },
          upsert: [{ key: "e2e.test/cold", value: "kept" }],
        })
      );
      for (const i of [0, 1, 2]) await c.shutdownNode(i);
      await Promise.all([0, 1, 2].map((i) => c.startNode(i)));
      await stepAllHealthy(api, 3, 60, "all nodes HEALTHY after a cold start");
      await testEventual(
        "remove KubernetesController from node 0",
        10,
        () =>
          api.management((m) =>
            m.updateNodeRoles({ node: { case: "id", value: ids[0] }, kubernetesController: false })
          ),
      );
      await testEventual(
        "remove ConsensusMember from node 0",
        60,
        () =>
          api.management((m) =>
            m.updateNodeRoles({ node: { case: "id", value: ids[0] }, consensusMember: false })
          ),
      );
      await testEventual("GetConsensusStatus no longer lists node 0", 60, async () => {
        const st = await api.consensusStatus();
        if (st.some((m) => m.id === ids[0])) throw new Error("node 0 still an etcd member");
      });
      await testEventual(
        "DeleteNode(node 0)",
        10,
        () =>
          api.management((m) =>
            m.deleteNode({ node: { case: "id", value: ids[0] }, safetyBypassNotDecommissioned: {} })
          ),
      );
      await c.shutdownNode(0);
      for (const i of [1, 2]) await c.shutdownNode(i);
      await Promise.all([1, 2].map((i) => c.startNode(i)));
      await stepAllHealthy(api, 2, 60, "nodes 1 and 2 HEALTHY after a cold start");
      const n1 = (await api.nodes(`node.id == "${ids[1]}"`))[0];
      assert.ok(n1.labels?.pairs.some((p) => p.key === "e2e.test/cold" && p.value === "kept"));
      ok = true;
    } finally {
      if (!ok) console.log(`ha_cold: keeping state in ${c.stateDir}`);
      await c.close(ok);
    }
  },
});
