import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { ClusterConfigurationSchema } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { Value } from "../../base/event/value.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { Supervisor } from "../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../base/supervisor/testing.ts";
import { startTestEtcd } from "../../core/consensus/testing.ts";
import type { KnownNode } from "../../core/roleserve/context.ts";
import { startFakeApiserver } from "../reconciler/testing.ts";
import { labelmaker } from "./labelmaker.ts";

const NODES = "/api/v1/nodes";
const ROLE = "node-role.kubernetes.io/";

function config(...regexps: string[]): Uint8Array {
  return toBinary(
    ClusterConfigurationSchema,
    create(ClusterConfigurationSchema, {
      kubernetes: { nodeLabelsToSynchronize: regexps.map((regexp) => ({ regexp })) },
    }),
  );
}

function known(id: string, o: Partial<KnownNode>): KnownNode {
  return { id, consensusMember: false, runningCurator: false, ...o };
}

Deno.test("labelmaker: Nodes follow roles, synchronized labels and rules; others' labels stay; no Node is created", async () => {
  const etcd = await startTestEtcd();
  const api = await startFakeApiserver();
  await etcd.kv.put("curator/cluster/configuration", config("^example\\.com/"));
  api.put(NODES, { metadata: { name: "n1", labels: { "kubernetes.io/hostname": "n1" } } });
  const nodes = new Value(
    new Map([
      [
        "n1",
        known("n1", {
          consensusMember: true,
          kubernetesController: true,
          kubernetesWorker: true,
          labels: { "example.com/zone": "a", "other": "x" },
        }),
      ],
      ["n2", known("n2", { kubernetesWorker: true })],
    ]),
  );
  const sup = new Supervisor(
    new LogTree(),
    labelmaker({ client: api.client, nodes, kv: etcd.kv, resyncMs: 200 }),
  );
  const labels = (n: string) => api.objects.get(`${NODES}/${n}`)?.metadata.labels ?? {};
  try {
    await waitUntil(() => labels("n1")["example.com/zone"] === "a", "n1 labelled", 5000);
    assert.deepEqual(labels("n1"), {
      "kubernetes.io/hostname": "n1",
      "example.com/zone": "a",
      [ROLE + "ConsensusMember"]: "",
      [ROLE + "KubernetesController"]: "",
      [ROLE + "KubernetesWorker"]: "",
    });
    assert.equal(
      api.objects.has(`${NODES}/n2`),
      false,
      "no Node for a node kubelet never registered",
    );

    // Steady state (several resyncs): nothing is applied again.
    const patches = () => api.requests.filter((r) => r.startsWith("PATCH")).length;
    const before = patches();
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(patches(), before);

    // A role and a label removed in Metropolis disappear; the kubelet's label stays.
    const m = new Map(nodes.get()!);
    m.set("n1", known("n1", { kubernetesWorker: true, labels: { "other": "x" } }));
    nodes.set(m);
    await waitUntil(() => !(ROLE + "ConsensusMember" in labels("n1")), "roles removed", 5000);
    assert.deepEqual(labels("n1"), {
      "kubernetes.io/hostname": "n1",
      [ROLE + "KubernetesWorker"]: "",
    });

    // A new Node (kubelet registering) is labelled promptly, well before the resync would.
    await sup.stop();
    const sup2 = new Supervisor(
      new LogTree(),
      labelmaker({ client: api.client, nodes, kv: etcd.kv, resyncMs: 60_000 }),
    );
    try {
      await waitUntil(() => api.requests.some((r) => r.includes("watch=1")), "node watch", 5000);
      const t0 = Date.now();
      api.put(NODES, { metadata: { name: "n2", labels: {} } });
      await waitUntil(() => ROLE + "KubernetesWorker" in labels("n2"), "n2 labelled", 5000);
      assert.ok(Date.now() - t0 < 2000);

      // A changed rule takes effect without any node change.
      await etcd.kv.put("curator/cluster/configuration", config("^oth"));
      await waitUntil(() => labels("n1").other === "x", "label of the new rule", 5000);
    } finally {
      await sup2.stop();
    }
  } finally {
    await sup.stop();
    await api.close();
    await etcd.stop();
  }
});

Deno.test("labelmaker: an unreachable apiserver fails the runnable so the supervisor retries", async () => {
  const etcd = await startTestEtcd();
  const api = await startFakeApiserver();
  api.down = true;
  const sup = new Supervisor(
    new LogTree(),
    labelmaker({ client: api.client, nodes: new Value(new Map()), kv: etcd.kv }),
  );
  try {
    await waitUntil(() => sup.state("root") === "DEAD", "labelmaker failed", 5000);
  } finally {
    await sup.stop();
    await api.close();
    await etcd.stop();
  }
});
