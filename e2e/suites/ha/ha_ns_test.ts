/**
 * ha suite on namespace nodes (testing.md §4.2, §3): 3 nodes, storage NEEDS_INSECURE, otherwise
 * upstream defaults (TPM REQUIRED, one swtpm per node: every reboot unseals). Nodes 1 and 2
 * become ConsensusMembers (LEARNER → FULL), all HEALTHY, each holding one connection to the leader,
 * then a rolling reboot of every node, each rejoining (and again one connection each). A cluster configuration value written first is read back at the end.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { stepAllHealthy, stepConsensusMembers, stepOneConnectionPerNode } from "../steps.ts";
import { testEventual } from "../eventual.ts";

Deno.test({
  name: "ha: 3 consensus members survive a rolling reboot",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = await launchCluster(resolveOptions({
      "num-nodes": 3,
      "tpm-mode": "required",
      subnet: "10.1.42.0/24",
      tpm: "swtpm",
      // A node whose agent dies reboots and rejoins, as a real node would (Deno's HTTP/2 can abort
      // on GOAWAY races; the cluster must ride through such restarts).
      "allow-reboot": true,
    }));
    let ok = false;
    try {
      const api = c.api!;
      const mask = create(FieldMaskSchema, { paths: ["kubernetes.node_labels_to_synchronize"] });
      await api.management((m) =>
        m.configureCluster({
          newConfig: { kubernetes: { nodeLabelsToSynchronize: [{ regexp: "^ha-kept$" }] } },
          updateMask: mask,
        })
      );
      const ids = await c.nodeIds();
      await stepConsensusMembers(api, ids, [1, 2]);
      await stepAllHealthy(api, 3, 20);
      await stepOneConnectionPerNode(c, api, ids);
      for (const i of [0, 1, 2]) {
        await testEventual(`reboot node ${i} and it rejoins`, 60, () => c.rebootNode(i));
      }
      // The leader moved at least once: nodes dropped their connections to the old one.
      await stepOneConnectionPerNode(c, api, ids);
      const info = await api.management((m) => m.getClusterInfo({}));
      assert.deepEqual(
        info.clusterConfiguration?.kubernetes?.nodeLabelsToSynchronize.map((r) => r.regexp),
        ["^ha-kept$"],
      );
      ok = true;
    } finally {
      if (!ok) console.log(`ha: keeping state in ${c.stateDir}`);
      await c.close(ok);
    }
  },
});
