/**
 * decommission suite (testing.md §4.9, project): 3 nodes, nodes 1 and 2 ConsensusMembers.
 * DecommissionNode(node 2) drains its roles, removes it from etcd and refuses its credentials;
 * DeleteNode then needs no bypass. A NEW node decommissions directly; the leader's own node is
 * refused.
 */
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import {
  Curator,
  CuratorLocal,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { NodeState } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { SealedConfigurationFileSchema } from "../../../proto/gen/metropolis/proto/private/private_pb.ts";
import {
  ed25519FromSeed,
  generateEd25519,
  importPkcs8Pem,
  rawPublicKey,
} from "../../../node/base/pki/keys.ts";
import { pemDecode } from "../../../node/base/pki/pem.ts";
import { nodeId } from "../../../node/core/identity/nodeid.ts";
import { type DialOptions, dialService } from "../../../node/core/rpc/client.ts";
import { launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { stepAllHealthy, stepConsensusMembers } from "../steps.ts";
import { testEventual } from "../eventual.ts";

async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return status.OK;
  } catch (e) {
    return (e as { code: number }).code;
  }
}

Deno.test({
  name: "decommission: roles drained, consensus left, credentials refused, delete without bypass",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = await launchCluster(resolveOptions({
      storage: "dir", // the test reads and hashes the node's /data from the host
      "num-nodes": 3,
      "tpm-mode": "disabled",
      subnet: "10.1.44.0/24",
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
      const local = await api.client(CuratorLocal);
      const leaderId = await new Promise<string>((resolve, reject) => {
        const s = local.getCurrentLeader({});
        s.on("data", (r: { leaderNodeId: string }) => {
          resolve(r.leaderNodeId);
          s.cancel();
        });
        s.on("error", reject);
      });
      local.close();
      await testEventual(
        "force-deleting the leader is refused, the cluster stays",
        60,
        async () => {
          const r = await code(
            api.management((m) =>
              m.deleteNode({
                node: { case: "id", value: leaderId },
                safetyBypassHasRoles: {},
                safetyBypassNotDecommissioned: {},
              })
            ),
          );
          assert.equal(r, status.FAILED_PRECONDITION);
          const nodes = await api.nodes();
          assert.ok(nodes.some((n) => n.id === leaderId), "the leader's record is still there");
        },
      );
      await stepAllHealthy(api, 3, 20, "all nodes HEALTHY after the refused delete");
      const victim = ids.findIndex((id, i) => i > 0 && id !== leaderId);
      const vid = ids[victim];
      await testEventual("decommissioning the leader's own node is refused", 60, async () => {
        const r = await code(
          api.management((m) => m.decommissionNode({ node: { case: "id", value: leaderId } })),
        );
        assert.equal(r, status.FAILED_PRECONDITION);
      });
      await testEventual(
        `DecommissionNode(node ${victim})`,
        60,
        () => api.management((m) => m.decommissionNode({ node: { case: "id", value: vid } })),
      );
      await testEventual("roles empty, state DECOMMISSIONED", 60, async () => {
        const n = (await api.nodes(`node.id == "${vid}"`))[0];
        assert.equal(n.state, NodeState.DECOMMISSIONED);
        assert.ok(!n.roles?.consensusMember && !n.roles?.kubernetesController);
      });
      await testEventual("absent from GetConsensusStatus", 60, async () => {
        const st = await api.consensusStatus();
        if (st.some((m) => m.id === vid)) throw new Error("still an etcd member");
      });
      // The decommissioned node's own credentials, from its state directory.
      const dir = `${c.stateDir}/nodes/${victim}`;
      const cred = (n: string) => Deno.readTextFile(`${dir}/data/node/credentials/${n}`);
      const nodeCert = pemDecode(await cred("cert.pem"), "CERTIFICATE");
      const nodeKeys = await importPkcs8Pem(await cred("cert-key.pem"), "Ed25519");
      const sealed = fromBinary(
        SealedConfigurationFileSchema,
        await Deno.readFile(`${dir}/esp/metropolis/sealed_configuration.pb`),
      );
      assert.equal(sealed.kind.case, "plain");
      const joinKeys = await ed25519FromSeed(sealed.kind.value!.joinKey.subarray(0, 32));
      const curatorAs = async (identity: DialOptions["identity"]) => {
        const leader = (await api.nodes(`node.id == "${leaderId}"`))[0];
        return await dialService(Curator, `${leader.status!.externalAddress}:7835`, {
          ca: api.owner.caCertificate,
          nodeId: leaderId,
          identity,
          socks5: c.socks.address,
        });
      };
      await testEventual("its Heartbeat is UNAUTHENTICATED", 60, async () => {
        const cur = await curatorAs({ certificate: nodeCert, privateKey: nodeKeys.privateKey });
        const hb = cur.heartbeat();
        const r = await new Promise<number>((resolve) => {
          hb.on("data", () => resolve(status.OK));
          hb.on("error", (e: { code: number }) => resolve(e.code));
          hb.write({});
        });
        cur.close();
        assert.equal(r, status.UNAUTHENTICATED);
      });
      await testEventual("JoinNode with its join key is FAILED_PRECONDITION", 60, async () => {
        const cur = await curatorAs({ ephemeral: joinKeys });
        const r = await code(cur.joinNode({ usingSealedConfiguration: false }));
        cur.close();
        assert.equal(r, status.FAILED_PRECONDITION);
      });
      await testEventual(
        "DeleteNode without bypass",
        60,
        () => api.management((m) => m.deleteNode({ node: { case: "id", value: vid } })),
      );
      // A NEW node (registered, never approved) decommissions directly.
      const fresh = await generateEd25519();
      const freshId = nodeId(await rawPublicKey(fresh.publicKey));
      const ticket = (await api.management((m) => m.getRegisterTicket({}))).ticket;
      const reg = await curatorAs({ ephemeral: fresh });
      await reg.registerNode({
        registerTicket: ticket,
        joinKey: await rawPublicKey((await generateEd25519()).publicKey),
      });
      reg.close();
      await testEventual("a NEW node decommissions directly", 60, async () => {
        await api.management((m) => m.decommissionNode({ node: { case: "id", value: freshId } }));
        const n = (await api.nodes(`node.id == "${freshId}"`))[0];
        assert.equal(n.state, NodeState.DECOMMISSIONED);
      });
      ok = true;
    } finally {
      if (!ok) console.log(`decommission: keeping state in ${c.stateDir}`);
      await c.close(ok);
    }
  },
});
