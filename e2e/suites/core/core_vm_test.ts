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
import type * as grpc from "@grpc/grpc-js";
import https from "node:https";
import { type Cluster, launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { stepAllHealthy } from "../steps.ts";
import { permanent, testEventual } from "../eventual.ts";
import { image } from "../boot/image.ts";
import {
  LogsRequest_BacklogMode,
  LogsRequest_StreamMode,
  NodeManagement,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { NodeTPMUsage } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { makeClient } from "../../../proto/grpc.ts";
import { connectionParams } from "../../../node/core/rpc/client.ts";
import { certificatePem } from "../../../node/base/pki/info.ts";
import { exportPkcs8Pem } from "../../../node/base/pki/keys.ts";
import { NODE_NUMBER_LABEL } from "../../launch/params.ts";

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

/** Node ID of the node labelled `test-node-number=<i>`. */
async function nodeIdOf(c: Cluster, i: number): Promise<string> {
  const n = (await c.api!.nodes()).find((n) =>
    n.labels?.pairs.some((p) => p.key === NODE_NUMBER_LABEL && p.value === String(i))
  );
  if (!n) throw permanent(`node ${i} not found by its label`);
  return n.id;
}

Deno.test({
  name: "core: 2 VM nodes (Secure Boot, TPM, encrypted data) form a cluster, survive a reboot",
  ...opts,
  async fn() {
    let ok = false;
    try {
      const { c } = await cluster();
      const api = c.api!;
      const ownerKeyPem = await exportPkcs8Pem(api.owner.keys.privateKey);
      const addrs = [c.nodeAddress(0), c.nodeAddress(1)];
      await testEventual("GetClusterInfo lists both nodes with their addresses", 60, async () => {
        const info = await api.management((m) => m.getClusterInfo({}));
        const nodes = info.clusterDirectory?.nodes ?? [];
        if (nodes.length !== 2) throw new Error(`${nodes.length} nodes in the directory`);
        const got = nodes.map((n) => {
          if (n.addresses.length !== 1) {
            throw new Error(`${n.id} has ${n.addresses.length} addresses`);
          }
          return n.addresses[0].host;
        }).sort();
        assert.deepEqual(got, addrs);
      });
      await stepAllHealthy(api, 2, 60);
      await testEventual("both VM nodes use their TPM", 30, async () => {
        for (const n of await api.nodes()) {
          assert.equal(
            n.tpmUsage,
            NodeTPMUsage.NODE_TPM_USAGE_PRESENT_AND_USED,
            `${n.id} TPM usage`,
          );
        }
      });
      const n1 = await nodeIdOf(c, 1);
      await testEventual("NodeManagement.Logs of node 1 shows its enrolment", 60, async () => {
        const p = await connectionParams(`${c.nodeAddress(1)}:7839`, {
          ca: api.owner.caCertificate,
          nodeId: n1,
          identity: { certificate: api.owner.certificate, privateKey: api.owner.keys.privateKey },
          socks5: c.socks.address,
        });
        const m = makeClient(
          NodeManagement,
          p.address,
          p.credentials,
          p.options as grpc.ClientOptions,
        );
        try {
          const lines: string[] = [];
          for await (
            const r of m.logs({
              dn: "root.enrolment",
              backlogMode: LogsRequest_BacklogMode.ALL,
              streamMode: LogsRequest_StreamMode.DISABLE,
            })
          ) {
            for (const e of r.backlogEntries) {
              if (e.kind.case === "leveled") lines.push(...e.kind.value.lines);
            }
          }
          assert.ok(lines.includes("Cluster enrolment done."), lines.join(" | "));
        } finally {
          m.close();
        }
      });
      await api.management((m) =>
        m.updateNodeLabels({
          node: { case: "id", value: n1 },
          upsert: [{ key: "e2e.test/before-reboot", value: "kept" }],
        })
      );
      // A VM reboot is a power cycle: firmware, kernel, JoinNode for the CUK, unlock of the
      // authenticated data partition, then the heartbeat.
      await testEventual("reboot node 1 and it rejoins", 600, () => c.rebootNode(1));
      await stepAllHealthy(api, 2, 60, "all nodes HEALTHY after the reboot");
      const after = (await api.nodes(`node.id == "${n1}"`))[0];
      assert.ok(
        after.labels?.pairs.some((p) => p.key === "e2e.test/before-reboot" && p.value === "kept"),
        "label written before the reboot is still there",
      );
      await testEventual(
        "GET /metrics/node on node 0 (7840) with the owner certificate",
        120,
        async () => {
          const n0 = await nodeIdOf(c, 0);
          const relay = await c.dialNode(`${c.nodeAddress(0)}:7840`);
          const [host, port] = relay.split(":");
          const body = await new Promise<string>((resolve, reject) => {
            const req = https.request({
              host,
              port: Number(port),
              path: "/metrics/node",
              servername: n0,
              ca: certificatePem(api.owner.caCertificate),
              cert: certificatePem(api.owner.certificate),
              key: ownerKeyPem,
              agent: false,
              checkServerIdentity: (_h, cert) =>
                cert.subjectaltname?.split(", ").includes(`DNS:${n0}`)
                  ? undefined
                  : new Error(`server is not ${n0}`),
            }, (res) => {
              let text = "";
              res.setEncoding("utf8");
              res.on("data", (d) => text += d);
              res.on(
                "end",
                () =>
                  res.statusCode === 200
                    ? resolve(text)
                    : reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`)),
              );
            });
            req.on("error", reject);
            req.end();
          });
          if (!body.includes("node_uname_info")) throw permanent("metrics lack node_uname_info");
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
      const before = (await Deno.readTextFile(log)).length;
      const boot = async () => (await Deno.readTextFile(log)).slice(before);
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
