import assert from "node:assert/strict";
import { LogTree } from "../../base/logtree/logtree.ts";
import { Supervisor } from "../../base/supervisor/supervisor.ts";
import { cachedKube, startTestApiserver } from "../apiserver/testing.ts";
import type { KubeObject } from "../client/client.ts";
import { CSI_DRIVER } from "../reconciler/objects.ts";
import { reconcileOnce } from "../reconciler/reconciler.ts";
import { ANNOTATIONS, HOSTNAME_LABEL } from "./provision.ts";
import { PATHS, provisioner } from "./provisioner.ts";

const KUBE = cachedKube();
const SKIP = KUBE
  ? undefined
  : "skipped: no cached kube binary (node/kubernetes/hyperkube/build.ts)";
if (SKIP) console.log(`provisioner: ${SKIP}`);

const NODE = "metropolis-test-node";
const PVCS = "/api/v1/namespaces/default/persistentvolumeclaims";

/** Polls `f` until it returns something truthy (an object or true) and returns that. */
async function eventually(
  what: string,
  f: () => Promise<unknown>,
  ms = 20_000,
): Promise<KubeObject> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v as KubeObject;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function claim(name: string, over: KubeObject = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      name,
      annotations: { [ANNOTATIONS.provisioner]: CSI_DRIVER, [ANNOTATIONS.selectedNode]: NODE },
    },
    spec: {
      storageClassName: "local",
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: "64Mi" } },
      ...over,
    },
  };
}

Deno.test({
  name:
    "provisioner against a real apiserver as the CSI identity: provisions a pinned PV, resizes and reports, deletes released volumes, refuses block mode",
  ignore: SKIP !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const api = await startTestApiserver(KUBE!);
  const dir = await Deno.makeTempDir();
  const client = api.connect(await api.workerIdentity(NODE, "csiProvisioner"));
  const sup = new Supervisor(new LogTree(), async (ctx) => {
    // The builtin objects (StorageClass local, the CSI provisioner's RBAC) as on a cluster.
    await reconcileOnce(api.master, ctx.logger, ctx.signal);
    await provisioner({ client, nodeId: NODE, volumes: { dir, quotas: false } })(ctx);
  });
  const m = api.master;
  try {
    const pvc = await m.request("POST", PVCS, claim("data"));
    const pvName = `pvc-${pvc.metadata.uid}`;
    const pv = await eventually("PV created", () => m.get(`${PATHS.pvs}/${pvName}`));
    assert.equal(pv.spec.capacity.storage, "64Mi");
    assert.equal(pv.spec.claimRef.uid, pvc.metadata.uid);
    assert.deepEqual(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0], {
      key: HOSTNAME_LABEL,
      operator: "In",
      values: [NODE],
    });
    assert.deepEqual(pv.spec.mountOptions, ["exec", "dev", "suid"]);
    assert.ok((await Deno.stat(`${dir}/${pvName}`)).isDirectory);
    // Without project quotas the claim is told that its size is not enforced.
    await eventually("CapacityNotEnforced event", async () => {
      const ev = await m.request("GET", "/api/v1/namespaces/default/events");
      return ev.items.some((e: KubeObject) =>
        e.reason === "CapacityNotEnforced" && e.involvedObject.name === "data"
      );
    });

    // Bind as the PV controller would, then ask for more.
    await m.request("PATCH", `${PVCS}/data`, { spec: { volumeName: pvName } }, {
      contentType: "application/merge-patch+json",
    });
    await m.request("PATCH", `${PVCS}/data/status`, {
      status: { phase: "Bound", capacity: { storage: "64Mi" }, accessModes: ["ReadWriteOnce"] },
    }, { contentType: "application/merge-patch+json" });
    await m.request("PATCH", `${PVCS}/data`, {
      spec: { resources: { requests: { storage: "128Mi" } } },
    }, { contentType: "application/merge-patch+json" });
    await eventually("claim reports 128Mi", async () => {
      const c = await m.request("GET", `${PVCS}/data`);
      return c.status?.capacity?.storage === "128Mi";
    });
    await eventually("PV has 128Mi", async () => {
      const v = await m.request("GET", `${PATHS.pvs}/${pvName}`);
      return v.spec.capacity.storage === "128Mi";
    });

    // Released (the claim went away) with reclaim Delete: directory and PV are removed.
    await m.request("DELETE", `${PVCS}/data`);
    await m.request("PATCH", `${PATHS.pvs}/${pvName}/status`, { status: { phase: "Released" } }, {
      contentType: "application/merge-patch+json",
    });
    // Deleted: the pv-protection finalizer keeps it visible as terminating here (no
    // controller-manager runs to remove the finalizer).
    await eventually("PV deleted", async () => {
      const v = await m.get(`${PATHS.pvs}/${pvName}`);
      return !v || v.metadata.deletionTimestamp;
    });
    await assert.rejects(Deno.stat(`${dir}/${pvName}`), Deno.errors.NotFound);

    // Block mode is refused with an Event, and nothing is created.
    const block = await m.request("POST", PVCS, claim("raw", { volumeMode: "Block" }));
    await eventually("ProvisioningFailed event", async () => {
      const ev = await m.request("GET", "/api/v1/namespaces/default/events");
      return ev.items.some((e: KubeObject) =>
        e.reason === "ProvisioningFailed" && e.involvedObject.name === "raw" &&
        /block volume mode/.test(e.message)
      );
    });
    assert.equal(await m.get(`${PATHS.pvs}/pvc-${block.metadata.uid}`), undefined);
  } finally {
    await sup.stop();
    client.close();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});
