/**
 * ha suite on namespace nodes (testing.md §4.2, §3): 3 nodes, storage NEEDS_INSECURE, otherwise
 * upstream defaults (TPM REQUIRED, one swtpm per node: every reboot unseals). Nodes 1 and 2
 * become ConsensusMembers (LEARNER → FULL), all HEALTHY, each holding one connection to the leader,
 * and etcd raft leadership leaves the curator leader's node; then a rolling reboot of every node,
 * each rejoining (and again one connection each), and a crash of the leader's node: both survivors
 * heartbeat to a new leader, and the node rejoins. A cluster configuration value written first is
 * read back at the end.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { consoleSince, launchCluster } from "../../launch/cluster.ts";
import { Node_Health } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { resolveOptions } from "../../launch/options.ts";
import { stepAllHealthy, stepConsensusMembers, stepOneConnectionPerNode } from "../steps.ts";
import { testEventual } from "../eventual.ts";

Deno.test({
  name: "ha: 3 consensus members survive a rolling reboot and a crash of the leader's node",
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
      // Node 0 bootstrapped: its curator leads and its etcd member was raft leader; once there
      // are other voters, it hands raft leadership away (one crash should not take both).
      await testEventual("etcd raft leadership leaves the curator leader's node", 20, async () => {
        const text = await consoleSince(c.nodes[0].consolePath);
        if (!/handed etcd raft leadership to /.test(text)) throw new Error("not handed over yet");
      });
      for (const i of [0, 1, 2]) {
        await testEventual(`reboot node ${i} and it rejoins`, 60, () => c.rebootNode(i));
      }
      // The leader moved at least once: nodes dropped their connections to the old one.
      await stepOneConnectionPerNode(c, api, ids);
      // The leader's node crashes (its whole namespace killed, as by a power loss): the curator
      // next in line finds its port refused and deposes it (curator/liveness.ts), both survivors
      // heartbeat to the new leader; the crashed node then boots again and rejoins.
      const leader = await api.leader();
      const crashed = ids.indexOf(leader.nodeId);
      await c.killNode(crashed);
      await testEventual(
        "after the leader's node crashed, both survivors HEALTHY on a new leader",
        45,
        async () => {
          const survivors = (await api.nodes()).filter((n) => n.id !== leader.nodeId);
          if (survivors.length !== 2 || survivors.some((n) => n.health !== Node_Health.HEALTHY)) {
            throw new Error(`survivors: ${survivors.map((n) => Node_Health[n.health]).join(", ")}`);
          }
        },
      );
      await c.startNode(crashed);
      await stepAllHealthy(api, 3, 60, "the crashed node rejoins");
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
