/**
 * The Cluster API on a real curator: real etcd, real TLS, real grpc-js clients (node.md §12,
 * testing.md §6). Each step asserts the behaviour and status codes of node.md §12.10.
 */
import { DEAD_AFTER_MS } from "./liveness.ts";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { Management, Node_Health } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import {
  Curator,
  CuratorLocal,
  GetConsensusStatusResponse_EtcdMember_Status as MemberStatus,
  WatchEvent_Progress,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import {
  AAA,
  EscrowResponse_ProofRequest_Kind,
} from "../../../proto/gen/metropolis/proto/api/aaa_pb.ts";
import {
  ClusterConfiguration_StorageSecurityPolicy as Policy,
  NodeState,
  NodeStorageSecurity,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { CA } from "../../base/pki/ca.ts";
import { MemoryPkiStorage } from "../../base/pki/storage.ts";
import { generateEd25519, rawPublicKey } from "../../base/pki/keys.ts";
import { nodeId } from "../identity/nodeid.ts";
import { CLUSTER_CA_TEMPLATE, nodeTemplate, userTemplate } from "../identity/profiles.ts";
import { verifyNodeCertificate } from "../identity/verify.ts";
import { startTestCurator, type TestCurator } from "./testing.ts";
import { startTestEtcd } from "../consensus/testing.ts";

async function code(p: Promise<unknown> | (() => Promise<unknown>)): Promise<number> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    return (e as { code: number }).code;
  }
  return status.OK;
}

async function collect<T>(s: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of s) out.push(x);
  return out;
}

async function owner(c: TestCurator) {
  const cert = await c.ownerCertificate();
  return { certificate: cert, privateKey: c.ownerKeys.privateKey };
}

Deno.test("curator: escrow, management, enrolment, node RPCs, authz", async (t) => {
  const c = await startTestCurator();
  try {
    const ownerId = await owner(c);
    const mgmt = await c.client(Management, ownerId);

    await t.step("Escrow: owner flow and its errors", async () => {
      const cert1 = await c.ownerCertificate();
      const cert2 = await c.ownerCertificate();
      assert.deepEqual(cert1, cert2, "same DER on every call");
      const escrowWith = async (
        keys: CryptoKeyPair | undefined,
        name: string,
        pub: Uint8Array,
      ) => {
        const aaa = await c.client(AAA, keys ? { ephemeral: keys } : undefined);
        const s = aaa.escrow();
        s.write({ parameters: { requestedIdentityName: name, publicKey: pub } });
        const got: unknown[] = [];
        try {
          for await (const r of s) got.push(r);
          return { code: status.OK, got };
        } catch (e) {
          return { code: (e as { code: number }).code, got };
        }
      };
      const ownerPub = await rawPublicKey(c.ownerKeys.publicKey);
      // Upstream parity: a request without parameters is INVALID_ARGUMENT.
      const aaa = await c.client(AAA, { ephemeral: c.ownerKeys });
      const bare = aaa.escrow();
      bare.write({});
      await assert.rejects(
        (async () => {
          for await (const _ of bare) { /* drain */ }
        })(),
        (e: { code: number; details: string }) =>
          e.code === status.INVALID_ARGUMENT && e.details === "client parameters must be set",
      );
      const other = await generateEd25519();
      const otherPub = await rawPublicKey(other.publicKey);
      assert.equal((await escrowWith(c.ownerKeys, "alice", ownerPub)).code, status.UNIMPLEMENTED);
      assert.equal(
        (await escrowWith(c.ownerKeys, "owner", new Uint8Array(3))).code,
        status.INVALID_ARGUMENT,
      );
      const noCert = await escrowWith(undefined, "owner", ownerPub);
      assert.equal(noCert.code, status.UNAUTHENTICATED);
      assert.equal(noCert.got.length, 1);
      assert.deepEqual(
        (noCert.got[0] as { needed: { kind: number }[] }).needed.map((n) => n.kind),
        [EscrowResponse_ProofRequest_Kind.REFRESH_CERTIFICATE],
      );
      assert.equal((await escrowWith(other, "owner", ownerPub)).code, status.UNIMPLEMENTED);
      assert.equal((await escrowWith(other, "owner", otherPub)).code, status.PERMISSION_DENIED);
    });

    await t.step("GetRegisterTicket stable; GetClusterInfo; GetNodes with filters", async () => {
      const t1 = (await mgmt.getRegisterTicket({})).ticket;
      const t2 = (await mgmt.getRegisterTicket({})).ticket;
      assert.equal(t1.length, 32);
      assert.deepEqual(t1, t2);
      const info = await mgmt.getClusterInfo({});
      assert.deepEqual(info.caCertificate, c.caCertificate);
      assert.deepEqual(info.clusterDirectory?.nodes.map((n) => n.id), [c.nodeId]);
      assert.equal(info.clusterConfiguration?.clusterDomain, "cluster.test");
      const all = await collect(mgmt.getNodes({}));
      assert.equal(all.length, 1);
      assert.equal(all[0].id, c.nodeId);
      assert.equal(all[0].state, NodeState.UP);
      assert.ok(all[0].roles?.consensusMember && all[0].roles?.kubernetesController);
      assert.equal(all[0].roles?.kubernetesWorker, undefined);
      assert.equal(all[0].timeSinceHeartbeat?.seconds, 9223372036n, "saturated when never seen");
      const up = await collect(mgmt.getNodes({ filter: "node.state == NODE_STATE_UP" }));
      assert.equal(up.length, 1);
      const none = await collect(mgmt.getNodes({ filter: "has(node.roles.kubernetes_worker)" }));
      assert.equal(none.length, 0);
      for (const bad of ["node.state ==", "1", "node.nonexistent == 1"]) {
        assert.equal(
          await code(collect(mgmt.getNodes({ filter: bad }))),
          status.INVALID_ARGUMENT,
          bad,
        );
      }
    });

    const newKeys = await generateEd25519();
    const newJoin = await generateEd25519();
    const newPub = await rawPublicKey(newKeys.publicKey);
    const newId = nodeId(newPub);
    let newCert!: Uint8Array;

    await t.step("RegisterNode: ticket, join key, idempotent while NEW", async () => {
      const cur = await c.client(Curator, { ephemeral: newKeys });
      const ticket = (await mgmt.getRegisterTicket({})).ticket;
      const joinKey = await rawPublicKey(newJoin.publicKey);
      assert.equal(
        await code(cur.registerNode({ registerTicket: new Uint8Array(32), joinKey })),
        status.PERMISSION_DENIED,
      );
      assert.equal((await collect(mgmt.getNodes({}))).length, 1, "no record for a wrong ticket");
      assert.equal(
        await code(cur.registerNode({ registerTicket: ticket, joinKey: new Uint8Array(5) })),
        status.INVALID_ARGUMENT,
      );
      const noCert = await c.client(Curator);
      assert.equal(
        await code(noCert.registerNode({ registerTicket: ticket, joinKey })),
        status.UNAUTHENTICATED,
      );
      const r = await cur.registerNode({
        registerTicket: ticket,
        joinKey,
        labels: { pairs: [{ key: "test-node-number", value: "1" }, { key: "-bad", value: "x" }] },
      });
      assert.equal(r.recommendedNodeStorageSecurity, NodeStorageSecurity.AUTHENTICATED_ENCRYPTED);
      const again = await cur.registerNode({ registerTicket: ticket, joinKey });
      assert.equal(again.clusterConfiguration, undefined, "empty response while NEW");
      const n = (await collect(mgmt.getNodes({ filter: `node.id == "${newId}"` })))[0];
      assert.equal(n.state, NodeState.NEW);
      assert.deepEqual(n.labels?.pairs.map((p: { key: string }) => p.key), ["test-node-number"]);
      assert.equal(
        (await collect(mgmt.getNodes({ filter: "node.state == NODE_STATE_NEW" }))).length,
        1,
      );
    });

    await t.step("CommitNode before approval, ApproveNode, CommitNode, JoinNode", async () => {
      const cur = await c.client(Curator, { ephemeral: newKeys });
      const cuk = new Uint8Array(32).fill(9);
      assert.equal(
        await code(cur.commitNode({
          clusterUnlockKey: cuk,
          storageSecurity: NodeStorageSecurity.AUTHENTICATED_ENCRYPTED,
        })),
        status.PERMISSION_DENIED,
      );
      assert.equal(
        await code(
          cur.commitNode({ clusterUnlockKey: cuk, storageSecurity: 99 as NodeStorageSecurity }),
        ),
        status.INVALID_ARGUMENT,
      );
      assert.equal(
        await code(mgmt.approveNode({ pubkey: new Uint8Array(4) })),
        status.INVALID_ARGUMENT,
      );
      const stranger = await rawPublicKey((await generateEd25519()).publicKey);
      assert.equal(await code(mgmt.approveNode({ pubkey: stranger })), status.NOT_FOUND);
      await mgmt.approveNode({ pubkey: newPub });
      await mgmt.approveNode({ pubkey: newPub }); // STANDBY stays STANDBY
      assert.equal(
        await code(cur.commitNode({
          clusterUnlockKey: new Uint8Array(3),
          storageSecurity: NodeStorageSecurity.ENCRYPTED,
        })),
        status.INVALID_ARGUMENT,
      );
      const r = await cur.commitNode({
        clusterUnlockKey: cuk,
        storageSecurity: NodeStorageSecurity.AUTHENTICATED_ENCRYPTED,
      });
      assert.deepEqual(r.caCertificate, c.caCertificate);
      const ident = await verifyNodeCertificate(r.nodeCertificate, c.caCertificate);
      assert.equal(ident.nodeId, newId);
      newCert = r.nodeCertificate;
      assert.equal(
        await code(cur.commitNode({
          clusterUnlockKey: cuk,
          storageSecurity: NodeStorageSecurity.ENCRYPTED,
        })),
        status.FAILED_PRECONDITION,
        "already UP",
      );
      const joiner = await c.client(Curator, { ephemeral: newJoin });
      const j = await joiner.joinNode({ usingSealedConfiguration: false });
      assert.deepEqual(j.clusterUnlockKey, cuk);
      const unknownJoin = await c.client(Curator, { ephemeral: await generateEd25519() });
      assert.equal(await code(unknownJoin.joinNode({})), status.NOT_FOUND);
      const noCert = await c.client(Curator);
      assert.equal(await code(noCert.joinNode({})), status.PERMISSION_DENIED);
    });

    await t.step("node RPCs: status, heartbeat → HEALTHY, authz of nodes and users", async () => {
      const asNode = await c.client(Curator, {
        certificate: newCert,
        privateKey: newKeys.privateKey,
      });
      assert.equal(
        await code(
          asNode.updateNodeStatus({ nodeId: c.nodeId, status: { externalAddress: "10.1.0.9" } }),
        ),
        status.PERMISSION_DENIED,
      );
      assert.equal(
        await code(asNode.updateNodeStatus({ nodeId: newId, status: { externalAddress: "nope" } })),
        status.INVALID_ARGUMENT,
      );
      assert.equal(await code(asNode.updateNodeStatus({ nodeId: newId })), status.INVALID_ARGUMENT);
      await asNode.updateNodeStatus({ nodeId: newId, status: { externalAddress: "10.1.0.3" } });
      const hb = asNode.heartbeat();
      hb.write({});
      const first = await new Promise((resolve, reject) => {
        hb.once("data", resolve);
        hb.once("error", reject);
      });
      assert.ok(first);
      const n = (await collect(mgmt.getNodes({ filter: `node.id == "${newId}"` })))[0];
      assert.equal(n.health, Node_Health.HEALTHY);
      assert.equal(n.status?.externalAddress, "10.1.0.3");
      assert.ok(n.status?.timestamp, "server sets the status timestamp");
      const recent = await collect(
        mgmt.getNodes({ filter: "node.time_since_heartbeat < duration('6s')" }),
      );
      assert.deepEqual(recent.map((x) => x.id), [newId]);
      const byAddr = await collect(
        mgmt.getNodes({ filter: 'node.status.external_address == "10.1.0.3"' }),
      );
      assert.deepEqual(byAddr.map((x) => x.id), [newId]);
      hb.end();
      // Node certificate on Management: PERMISSION_DENIED (lacks the permission) except reads.
      const nodeMgmt = await c.client(Management, {
        certificate: newCert,
        privateKey: newKeys.privateKey,
      });
      assert.equal(await code(nodeMgmt.approveNode({ pubkey: newPub })), status.PERMISSION_DENIED);
      assert.equal(await code(nodeMgmt.getRegisterTicket({})), status.PERMISSION_DENIED);
      // User certificate on node-only RPCs: PERMISSION_DENIED.
      const userCur = await c.client(Curator, ownerId);
      assert.equal(
        await code(
          userCur.updateNodeStatus({ nodeId: newId, status: { externalAddress: "10.1.0.3" } }),
        ),
        status.PERMISSION_DENIED,
      );
      assert.equal(
        await code(userCur.issueCertificate({
          kind: {
            case: "kubernetesWorker",
            value: {
              kubeletPubkey: newPub,
              csiProvisionerPubkey: newPub,
              netservicesPubkey: newPub,
            },
          },
        })),
        status.PERMISSION_DENIED,
      );
      const userHb = userCur.heartbeat();
      userHb.write({});
      assert.equal(await code(collect(userHb)), status.PERMISSION_DENIED);
      // No certificate, a self-signed one, one from another CA: UNAUTHENTICATED.
      assert.equal(
        await code((await c.client(Management)).getRegisterTicket({})),
        status.UNAUTHENTICATED,
      );
      const selfSigned = await c.client(Management, { ephemeral: c.ownerKeys });
      assert.equal(await code(selfSigned.getRegisterTicket({})), status.UNAUTHENTICATED);
      const forgedCA = new CA({
        storage: new MemoryPkiStorage(),
        name: "ca",
        template: CLUSTER_CA_TEMPLATE,
      });
      const forgedOwner = await forgedCA.ensure(
        "owner",
        userTemplate("owner"),
        c.ownerKeys.publicKey,
      );
      const forged = await c.client(Management, {
        certificate: forgedOwner,
        privateKey: c.ownerKeys.privateKey,
      });
      assert.equal(await code(forged.getRegisterTicket({})), status.UNAUTHENTICATED);
      const forgedNode = await forgedCA.ensure(newId, nodeTemplate(newId), newKeys.publicKey);
      const fn = await c.client(Curator, {
        certificate: forgedNode,
        privateKey: newKeys.privateKey,
      });
      assert.equal(
        await code(fn.updateNodeStatus({ nodeId: newId, status: { externalAddress: "10.1.0.3" } })),
        status.UNAUTHENTICATED,
      );
    });

    await t.step(
      "GetClusterInfo directory has the address; IssueCertificate for workers",
      async () => {
        const info = await mgmt.getClusterInfo({});
        const d = info.clusterDirectory!.nodes.find((n) => n.id === newId)!;
        assert.deepEqual(d.addresses.map((a) => a.host), ["10.1.0.3"]);
        const asNode = await c.client(Curator, {
          certificate: newCert,
          privateKey: newKeys.privateKey,
        });
        const kw = {
          kubeletPubkey: newPub,
          csiProvisionerPubkey: newPub,
          netservicesPubkey: newPub,
        };
        // Upstream parity: a request without a kind is INVALID_ARGUMENT before the role check.
        await assert.rejects(
          asNode.issueCertificate({}),
          (e: { code: number; details: string }) =>
            e.code === status.INVALID_ARGUMENT && e.details === "certificate kind must be set",
        );
        assert.equal(
          await code(asNode.issueCertificate({ kind: { case: "kubernetesWorker", value: kw } })),
          status.PERMISSION_DENIED,
          "not a worker yet",
        );
        await mgmt.updateNodeRoles({ node: { case: "id", value: newId }, kubernetesWorker: true });
        assert.equal(await code(asNode.issueCertificate({})), status.INVALID_ARGUMENT);
        const r = await asNode.issueCertificate({ kind: { case: "kubernetesWorker", value: kw } });
        assert.equal(r.kind.case, "kubernetesWorker");
        assert.ok(r.kind.value!.kubeletClientCertificate.length > 100);
      },
    );

    await t.step("UpdateNodeRoles invariants and GetConsensusStatus", async () => {
      const sel = { case: "id" as const, value: newId };
      assert.equal(
        await code(mgmt.updateNodeRoles({ node: sel, kubernetesController: true })),
        status.FAILED_PRECONDITION,
      );
      assert.equal(await code(mgmt.updateNodeRoles({})), status.INVALID_ARGUMENT);
      assert.equal(
        await code(mgmt.updateNodeRoles({ node: { case: "pubkey", value: new Uint8Array(2) } })),
        status.INVALID_ARGUMENT,
      );
      assert.equal(
        await code(mgmt.updateNodeRoles({ node: { case: "id", value: "metropolis-00" } })),
        status.NOT_FOUND,
      );
      assert.equal(
        await code(
          mgmt.updateNodeRoles({ node: { case: "id", value: c.nodeId }, consensusMember: false }),
        ),
        status.FAILED_PRECONDITION,
        "ConsensusMember cannot be removed while KubernetesController",
      );
      await mgmt.updateNodeRoles({ node: sel, consensusMember: true, kubernetesController: true });
      const cur = await c.client(Curator, ownerId);
      const st = await cur.getConsensusStatus({});
      const byId = new Map(st.etcdMember.map((m) => [m.id, m.status]));
      assert.equal(byId.get(c.nodeId), MemberStatus.FULL);
      assert.equal(byId.get(newId), MemberStatus.LEARNER);
      const n = (await collect(mgmt.getNodes({ filter: `node.id == "${newId}"` })))[0];
      assert.ok(
        n.roles?.consensusMember && n.roles.kubernetesController && n.roles.kubernetesWorker,
      );
      await mgmt.updateNodeRoles({
        node: sel,
        kubernetesController: false,
        kubernetesWorker: false,
      });
      await mgmt.updateNodeRoles({ node: sel, consensusMember: false });
      const st2 = await cur.getConsensusStatus({});
      assert.deepEqual(st2.etcdMember.map((m) => m.id), [c.nodeId]);
    });

    await t.step("UpdateNodeLabels and ConfigureCluster", async () => {
      const sel = { case: "id" as const, value: newId };
      await mgmt.updateNodeLabels({ node: sel, upsert: [{ key: "example.com/a", value: "b" }] });
      let n = (await collect(mgmt.getNodes({ filter: `node.id == "${newId}"` })))[0];
      assert.deepEqual(
        n.labels?.pairs.map((p: { key: string; value: string }) => `${p.key}=${p.value}`),
        [
          "example.com/a=b",
          "test-node-number=1",
        ],
      );
      assert.equal(
        await code(mgmt.updateNodeLabels({ node: sel, upsert: [{ key: "bad key", value: "x" }] })),
        status.INVALID_ARGUMENT,
      );
      const many = Array.from({ length: 130 }, (_, i) => ({ key: `k${i}`, value: "v" }));
      assert.equal(
        await code(mgmt.updateNodeLabels({ node: sel, upsert: many })),
        status.OUT_OF_RANGE,
      );
      await mgmt.updateNodeLabels({ node: sel, delete: ["example.com/a", "absent"] });
      n = (await collect(mgmt.getNodes({ filter: `node.id == "${newId}"` })))[0];
      assert.equal(n.labels?.pairs.length, 1);

      const mask = create(FieldMaskSchema, { paths: ["kubernetes.node_labels_to_synchronize"] });
      const r = await mgmt.configureCluster({
        newConfig: { kubernetes: { nodeLabelsToSynchronize: [{ regexp: "^foo$" }] } },
        updateMask: mask,
      });
      assert.deepEqual(
        r.resultingConfig?.kubernetes?.nodeLabelsToSynchronize.map((x) => x.regexp),
        ["^foo$"],
      );
      assert.equal(
        await code(mgmt.configureCluster({ newConfig: {}, updateMask: { paths: ["kubernetes"] } })),
        status.INVALID_ARGUMENT,
      );
      assert.equal(
        await code(mgmt.configureCluster({ updateMask: mask })),
        status.INVALID_ARGUMENT,
      );
      assert.equal(
        await code(mgmt.configureCluster({
          baseConfig: { kubernetes: { nodeLabelsToSynchronize: [{ regexp: "^stale$" }] } },
          newConfig: { kubernetes: { nodeLabelsToSynchronize: [] } },
          updateMask: mask,
        })),
        status.FAILED_PRECONDITION,
      );
      assert.equal(
        await code(mgmt.configureCluster({
          newConfig: { kubernetes: { nodeLabelsToSynchronize: [{ regexp: "(" }] } },
          updateMask: mask,
        })),
        status.INVALID_ARGUMENT,
      );
      const info = await mgmt.getClusterInfo({});
      assert.equal(info.clusterConfiguration?.kubernetes?.nodeLabelsToSynchronize.length, 1);
    });

    await t.step("Watch: backlog with LAST_BACKLOGGED, live changes, tombstones", async () => {
      const cur = await c.client(Curator, ownerId);
      const ac = new AbortController();
      const s = cur.watch({ kind: { case: "nodesInCluster", value: {} } }, { signal: ac.signal });
      const it = s[Symbol.asyncIterator]();
      const backlog = (await it.next()).value;
      assert.equal(backlog.progress, WatchEvent_Progress.LAST_BACKLOGGED);
      assert.deepEqual(
        backlog.nodes.map((n: { id: string }) => n.id).sort(),
        [c.nodeId, newId].sort(),
      );
      await mgmt.updateNodeLabels({
        node: { case: "id", value: newId },
        upsert: [{ key: "w", value: "1" }],
      });
      const live = (await it.next()).value;
      assert.equal(live.nodes[0].id, newId);
      assert.ok(live.nodes[0].labels.pairs.some((p: { key: string }) => p.key === "w"));
      assert.equal(await code(collect(cur.watch({}))), status.UNIMPLEMENTED);
      assert.equal(
        await code(collect(cur.watch({ kind: { case: "nodeInCluster", value: { nodeId: "x" } } }))),
        status.INVALID_ARGUMENT,
      );
      // Decommission and delete: DECOMMISSIONED event, then a tombstone.
      assert.equal(
        await code(mgmt.deleteNode({ node: { case: "id", value: newId } })),
        status.FAILED_PRECONDITION,
        "UP needs decommission or bypass",
      );
      assert.equal(
        await code(mgmt.decommissionNode({ node: { case: "id", value: c.nodeId } })),
        status.FAILED_PRECONDITION,
        "the leader's own node",
      );
      const delLeader = mgmt.deleteNode({
        node: { case: "id", value: c.nodeId },
        safetyBypassHasRoles: {},
        safetyBypassNotDecommissioned: {},
      });
      assert.equal(await code(delLeader), status.FAILED_PRECONDITION, "deleting the leader");
      assert.ok(
        (await collect(mgmt.getNodes({}))).some((n: { id: string }) => n.id === c.nodeId),
        "the leader's record is still there",
      );
      await mgmt.decommissionNode({ node: { case: "id", value: newId } });
      const dec = (await it.next()).value;
      assert.equal(dec.nodes[0].state, NodeState.DECOMMISSIONED);
      const asNode = await c.client(Curator, {
        certificate: newCert,
        privateKey: newKeys.privateKey,
      });
      const hb = asNode.heartbeat();
      hb.write({});
      assert.equal(await code(collect(hb)), status.UNAUTHENTICATED, "decommissioned cert refused");
      const joiner = await c.client(Curator, { ephemeral: newJoin });
      assert.equal(await code(joiner.joinNode({})), status.FAILED_PRECONDITION);
      await mgmt.deleteNode({ node: { case: "id", value: newId } });
      const tomb = (await it.next()).value;
      assert.deepEqual(tomb.nodeTombstones.map((x: { nodeId: string }) => x.nodeId), [newId]);
      assert.equal(
        await code(mgmt.deleteNode({ node: { case: "id", value: newId } })),
        status.NOT_FOUND,
      );
      ac.abort();
    });

    await t.step("CuratorLocal: GetCACertificate, GetCurrentLeader on the leader", async () => {
      const local = await c.client(CuratorLocal);
      assert.deepEqual((await local.getCACertificate({})).identityCaCertificate, c.caCertificate);
      const ac = new AbortController();
      const s = local.getCurrentLeader({}, { signal: ac.signal });
      const first = (await s[Symbol.asyncIterator]().next()).value;
      assert.equal(first.leaderNodeId, c.nodeId);
      assert.equal(first.thisNodeId, c.nodeId);
      // The bound port (the test curator listens on an ephemeral one), not the default 7835.
      assert.equal(`127.0.0.1:${first.leaderPort}`, c.target);
      ac.abort();
    });
  } finally {
    await c.stop();
  }
});

Deno.test("curator: storage policy refusal at CommitNode", async () => {
  const c = await startTestCurator({ storagePolicy: Policy.NEEDS_INSECURE });
  try {
    const mgmt = await c.client(Management, await owner(c));
    const keys = await generateEd25519();
    const cur = await c.client(Curator, { ephemeral: keys });
    const ticket = (await mgmt.getRegisterTicket({})).ticket;
    const r = await cur.registerNode({
      registerTicket: ticket,
      joinKey: await rawPublicKey((await generateEd25519()).publicKey),
    });
    assert.equal(r.recommendedNodeStorageSecurity, NodeStorageSecurity.INSECURE);
    await mgmt.approveNode({ pubkey: await rawPublicKey(keys.publicKey) });
    assert.equal(
      await code(cur.commitNode({
        clusterUnlockKey: new Uint8Array(32),
        storageSecurity: NodeStorageSecurity.ENCRYPTED,
      })),
      status.FAILED_PRECONDITION,
    );
    const ok = await cur.commitNode({ storageSecurity: NodeStorageSecurity.INSECURE });
    assert.ok(ok.nodeCertificate.length > 0);
  } finally {
    await c.stop();
  }
});

Deno.test("curator: leader failover ends followers' GetCurrentLeader streams", async () => {
  // Two curators (two nodes) on one etcd that outlives both.
  const aKeys = await generateEd25519();
  const etcd = await startTestEtcd({ name: nodeId(await rawPublicKey(aKeys.publicKey)) });
  const a = await startTestCurator({ etcd, nodeKeys: aKeys, leaseTtl: 2 });
  const b = await startTestCurator({ etcd, noBootstrap: true, leaseTtl: 2 });
  try {
    // The leader's address comes from its node record's status.
    const aNode = await a.client(Curator, {
      certificate: a.nodeCertificate,
      privateKey: a.nodeKeys.privateKey,
    });
    await aNode.updateNodeStatus({ nodeId: a.nodeId, status: { externalAddress: "127.0.0.1" } });
    // Give b time to see a as leader.
    const deadline = Date.now() + 5000;
    const local = await b.client(CuratorLocal, undefined, {
      ca: a.caCertificate,
      nodeId: b.nodeId,
    });
    let first;
    for (;;) {
      try {
        const s = local.getCurrentLeader({});
        first = (await s[Symbol.asyncIterator]().next()).value;
        s.cancel();
        break;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.equal(first.leaderNodeId, a.nodeId);
    assert.equal(first.thisNodeId, b.nodeId);
    // The follower advertises the leader's bound port from its election value.
    assert.equal(`${first.leaderHost}:${first.leaderPort}`, a.target);
    // Follower serves only CuratorLocal.
    const bm = await b.client(Management, await owner(a), {
      ca: a.caCertificate,
      nodeId: b.nodeId,
    });
    assert.equal(await code(bm.getRegisterTicket({})), status.UNIMPLEMENTED);
    const stream = local.getCurrentLeader({});
    const it = stream[Symbol.asyncIterator]();
    assert.equal((await it.next()).value.leaderNodeId, a.nodeId);
    const t0 = Date.now();
    await a.stop(); // the leader's curator stops: its lease is revoked, b takes over
    assert.equal(
      await code(async () => {
        for (;;) {
          const r = await it.next();
          if (r.done) return;
        }
      }),
      status.UNAVAILABLE,
      "follower's stream ends when leadership changes",
    );
    while (!b.server.isLeader) {
      assert.ok(Date.now() - t0 < 15_000, "new leader within 15 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    const s2 = local.getCurrentLeader({});
    const now = (await s2[Symbol.asyncIterator]().next()).value;
    assert.equal(now.leaderNodeId, b.nodeId);
    s2.cancel();
  } finally {
    await b.stop();
    await a.stop().catch(() => {});
    await etcd.stop();
  }
});

Deno.test("curator: the next in line deposes a leader whose curator port does not answer", async () => {
  // Two curators on one etcd, leases far longer than the test: only the liveness watch can move
  // leadership. The leader's record names an address it does not listen on (it binds
  // 127.0.0.1 only), so every dial of the follower is refused, as for a crashed node.
  const aKeys = await generateEd25519();
  const etcd = await startTestEtcd({ name: nodeId(await rawPublicKey(aKeys.publicKey)) });
  const a = await startTestCurator({ etcd, nodeKeys: aKeys, leaseTtl: 60 });
  const b = await startTestCurator({ etcd, noBootstrap: true, leaseTtl: 60 });
  try {
    assert.ok(a.server.isLeader);
    const aNode = await a.client(Curator, {
      certificate: a.nodeCertificate,
      privateKey: a.nodeKeys.privateKey,
    });
    const t0 = Date.now();
    await aNode.updateNodeStatus({ nodeId: a.nodeId, status: { externalAddress: "127.0.0.2" } });
    while (!b.server.isLeader) {
      assert.ok(Date.now() - t0 < 15_000, "b leads well before a's 60 s lease would run out");
      await new Promise((r) => setTimeout(r, 50));
    }
    const took = Date.now() - t0;
    assert.ok(
      took >= DEAD_AFTER_MS,
      `not before the dials failed for ${DEAD_AFTER_MS} ms: ${took}`,
    );
    // a, alive, saw its key go and queues behind b (b's address is unknown: never judged).
    while (a.server.isLeader) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 2 * DEAD_AFTER_MS));
    assert.ok(b.server.isLeader, "leadership stays with b");
  } finally {
    await b.stop();
    await a.stop().catch(() => {});
    await etcd.stop();
  }
});
