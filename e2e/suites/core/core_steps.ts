/**
 * The core suite's steps (testing.md §4.1), shared by the namespace-node and the VM-node runs so
 * the two check the same things: the cluster directory lists every node with its address, all
 * nodes HEALTHY, NodeManagement.Logs of node 1 shows its enrolment, a label written before a
 * reboot of node 1 is read back after it (no data lost across the fault), and node 0 serves its
 * node metrics to the owner. Only the timeouts differ (a VM reboot is a power cycle under TCG).
 * @module
 */
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import https from "node:https";
import type { Cluster } from "../../launch/cluster.ts";
import { NODE_NUMBER_LABEL } from "../../launch/params.ts";
import { stepAllHealthy } from "../steps.ts";
import { permanent, testEventual } from "../eventual.ts";
import {
  LogsRequest_BacklogMode,
  LogsRequest_StreamMode,
  NodeManagement,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { makeClient } from "../../../proto/grpc.ts";
import { connectionParams } from "../../../node/core/rpc/client.ts";
import { certificatePem } from "../../../node/base/pki/info.ts";
import { PORTS } from "../../../node/core/constants/ports.ts";
import { exportPkcs8Pem } from "../../../node/base/pki/keys.ts";

/** Seconds each step may take. */
export interface CoreTimeouts {
  /** All nodes HEALTHY (before and after the reboot). */
  healthy: number;
  /** NodeManagement.Logs of node 1 answers. */
  logs: number;
  /** Node 1 reboots and rejoins. */
  reboot: number;
  /** Node 0's metrics endpoint answers. */
  metrics: number;
}

/** Node ID of the node the launcher labelled `test-node-number=<i>`. */
export async function nodeIdOf(c: Cluster, i: number): Promise<string> {
  const n = (await c.api!.nodes()).find((n) =>
    n.labels?.pairs.some((p) => p.key === NODE_NUMBER_LABEL && p.value === String(i))
  );
  if (!n) throw permanent(`node ${i} not found by its label`);
  return n.id;
}

/** A NodeManagement client of node `i` (ID `id`) through the switch's SOCKS5; close it after use. */
export async function nodeManagement(c: Cluster, i: number, id: string) {
  const api = c.api!;
  const p = await connectionParams(`${c.nodeAddress(i)}:${PORTS.nodeManagement}`, {
    ca: api.owner.caCertificate,
    nodeId: id,
    identity: { certificate: api.owner.certificate, privateKey: api.owner.keys.privateKey },
    socks5: c.socks.address,
  });
  const m = makeClient(NodeManagement, p.address, p.credentials, p.options as grpc.ClientOptions);
  return {
    m,
    async close() {
      m.close();
      await p.close();
    },
  };
}

/**
 * GET `/metrics/<name>` from node `i`'s metrics listener (mutual TLS with the owner certificate;
 * the server must present `nodeId`'s certificate). Throws on any status other than 200.
 */
export async function nodeMetrics(
  c: Cluster,
  i: number,
  nodeId: string,
  name: string,
): Promise<string> {
  const api = c.api!;
  const key = await exportPkcs8Pem(api.owner.keys.privateKey);
  const relay = await c.dialNode(`${c.nodeAddress(i)}:${PORTS.metrics}`);
  const [host, port] = relay.split(":");
  return await new Promise<string>((resolve, reject) => {
    const req = https.request({
      host,
      port: Number(port),
      path: `/metrics/${name}`,
      servername: nodeId,
      ca: certificatePem(api.owner.caCertificate),
      cert: certificatePem(api.owner.certificate),
      key,
      agent: false,
      timeout: 20_000,
      checkServerIdentity: (_h, cert) =>
        cert.subjectaltname?.split(", ").includes(`DNS:${nodeId}`)
          ? undefined
          : new Error(`server is not ${nodeId}`),
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
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

/**
 * Runs the core steps on a 2-node cluster; `afterHealthy` runs once all nodes are HEALTHY for
 * the first time (checks only one kind of node can make).
 */
export async function coreSteps(
  c: Cluster,
  t: CoreTimeouts,
  afterHealthy?: () => Promise<void>,
): Promise<void> {
  const api = c.api!;
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
  await stepAllHealthy(api, 2, t.healthy);
  await afterHealthy?.();
  // A value written through the cluster before the fault.
  const n1 = await nodeIdOf(c, 1);
  await testEventual("NodeManagement.Logs of node 1 shows its enrolment", t.logs, async () => {
    const { m, close } = await nodeManagement(c, 1, n1);
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
      await close();
    }
  });
  await api.management((m) =>
    m.updateNodeLabels({
      node: { case: "id", value: n1 },
      upsert: [{ key: "e2e.test/before-reboot", value: "kept" }],
    })
  );
  await testEventual("reboot node 1 and it rejoins", t.reboot, () => c.rebootNode(1));
  await stepAllHealthy(api, 2, t.healthy, "all nodes HEALTHY after the reboot");
  const after = (await api.nodes(`node.id == "${n1}"`))[0];
  assert.ok(
    after.labels?.pairs.some((p) => p.key === "e2e.test/before-reboot" && p.value === "kept"),
    "label written before the reboot is still there",
  );
  await testEventual(
    `GET /metrics/node on node 0 (${PORTS.metrics}) with the owner certificate`,
    t.metrics,
    async () => {
      const n0 = await nodeIdOf(c, 0);
      const body = await nodeMetrics(c, 0, n0, "node");
      if (!body.includes("node_uname_info")) throw permanent("metrics lack node_uname_info");
    },
  );
}
