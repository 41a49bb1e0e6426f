/**
 * core suite on namespace nodes (testing.md §4.1): 2 nodes, TPM DISABLED, NEEDS_INSECURE, domain
 * `cluster.test`. Steps and timeouts from upstream; a node label written before the reboot is
 * read back after it (no data lost across the fault).
 */
import assert from "node:assert/strict";
import { launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { stepAllHealthy } from "../steps.ts";
import { permanent, testEventual } from "../eventual.ts";
import type * as grpc from "@grpc/grpc-js";
import {
  LogsRequest_BacklogMode,
  LogsRequest_StreamMode,
  NodeManagement,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { makeClient } from "../../../proto/grpc.ts";
import { connectionParams } from "../../../node/core/rpc/client.ts";
import https from "node:https";
import { certificatePem } from "../../../node/base/pki/info.ts";
import { exportPkcs8Pem } from "../../../node/base/pki/keys.ts";

Deno.test({
  name: "core: 2 namespace nodes form a cluster, survive a reboot",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = await launchCluster(resolveOptions({
      "num-nodes": 2,
      "tpm-mode": "disabled",
      "storage-security": "needs-insecure",
      "cluster-domain": "cluster.test",
      subnet: "10.1.41.0/24",
      tpm: "none",
      // A node whose agent dies reboots and rejoins, as a real node would (Deno's HTTP/2 can abort
      // on GOAWAY races; the cluster must ride through such restarts).
      "allow-reboot": true,
    }));
    let ok = false;
    try {
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
      await stepAllHealthy(api, 2, 20);
      // A value written through the cluster before the fault.
      const n1 = (await api.nodes()).find((n) =>
        n.labels?.pairs.some((p) => p.key === "test-node-number" && p.value === "1")
      );
      if (!n1) throw permanent("node 1 not found by its label");
      await testEventual("NodeManagement.Logs of node 1 shows its enrolment", 20, async () => {
        const p = await connectionParams(`${c.nodeAddress(1)}:7839`, {
          ca: api.owner.caCertificate,
          nodeId: n1.id,
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
          node: { case: "id", value: n1.id },
          upsert: [{ key: "e2e.test/before-reboot", value: "kept" }],
        })
      );
      await testEventual("reboot node 1 and it rejoins", 60, () => c.rebootNode(1));
      await stepAllHealthy(api, 2, 20, "all nodes HEALTHY after the reboot");
      const after = (await api.nodes(`node.id == "${n1.id}"`))[0];
      assert.ok(
        after.labels?.pairs.some((p) => p.key === "e2e.test/before-reboot" && p.value === "kept"),
        "label written before the reboot is still there",
      );
      await testEventual(
        "GET /metrics/node on node 0 (7840) with the owner certificate",
        60,
        async () => {
          const n0 = (await api.nodes()).find((n) =>
            n.labels?.pairs.some((p) => p.key === "test-node-number" && p.value === "0")
          )!;
          const relay = await c.dialNode(`${c.nodeAddress(0)}:7840`);
          const [host, port] = relay.split(":");
          const body = await new Promise<string>((resolve, reject) => {
            const req = https.request({
              host,
              port: Number(port),
              path: "/metrics/node",
              servername: n0.id,
              ca: certificatePem(api.owner.caCertificate),
              cert: certificatePem(api.owner.certificate),
              key: ownerKeyPem,
              agent: false,
              checkServerIdentity: (_h, cert) =>
                cert.subjectaltname?.split(", ").includes(`DNS:${n0.id}`)
                  ? undefined
                  : new Error(`server is not ${n0.id}`),
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
          if (!body.includes("node_uname_info")) {
            throw permanent("metrics lack node_uname_info");
          }
        },
      );
      ok = true;
    } finally {
      if (!ok) console.log(`core: keeping state in ${c.stateDir}`);
      await c.close(ok);
    }
  },
});
