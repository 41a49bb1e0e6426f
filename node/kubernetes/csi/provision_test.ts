import assert from "node:assert/strict";
import { CSI_DRIVER } from "../reconciler/objects.ts";
import {
  ANNOTATIONS,
  claimAction,
  parser,
  type Pv,
  PvcSchema,
  pvNode,
  PvSchema,
  type StorageClass,
  volumeAction,
} from "./provision.ts";

const NODE = "metropolis-abc";
const parsePvc = parser(PvcSchema);
const parsePv = parser(PvSchema);
const SC: StorageClass = {
  metadata: { name: "local" },
  provisioner: CSI_DRIVER,
  reclaimPolicy: "Delete",
  mountOptions: ["exec"],
};
const classes = new Map([["local", SC]]);

// deno-lint-ignore no-explicit-any
function pvc(over: { annotations?: Record<string, string>; spec?: any; status?: any } = {}) {
  return parsePvc({
    metadata: {
      name: "data-web-0",
      namespace: "default",
      uid: "u1",
      resourceVersion: "7",
      annotations: over.annotations ??
        { [ANNOTATIONS.provisioner]: CSI_DRIVER, [ANNOTATIONS.selectedNode]: NODE },
    },
    spec: {
      storageClassName: "local",
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: "64Mi" } },
      ...over.spec,
    },
    status: over.status ?? { phase: "Pending" },
  })!;
}

function provisioned(): Pv {
  const a = claimAction(pvc(), new Map(), classes, NODE);
  assert.equal(a.op, "provision");
  return parsePv(a.op === "provision" ? a.pv : {})!;
}

Deno.test("provision: a claim of class local placed on this node gets a PV pinned here with the requested size", () => {
  const a = claimAction(pvc(), new Map(), classes, NODE);
  assert.equal(a.op, "provision");
  if (a.op !== "provision") return;
  assert.equal(a.volume, "pvc-u1");
  assert.equal(a.bytes, 64n << 20n);
  assert.deepEqual(a.pv.spec.capacity, { storage: "64Mi" });
  assert.deepEqual(a.pv.spec.csi, { driver: CSI_DRIVER, volumeHandle: "pvc-u1" });
  assert.deepEqual(a.pv.spec.claimRef, {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    namespace: "default",
    name: "data-web-0",
    uid: "u1",
    resourceVersion: "7",
  });
  assert.equal(a.pv.spec.persistentVolumeReclaimPolicy, "Delete");
  assert.deepEqual(a.pv.spec.mountOptions, ["exec"]);
  assert.equal(a.pv.metadata.annotations[ANNOTATIONS.provisionedBy], CSI_DRIVER);
  assert.equal(pvNode(parsePv(a.pv)!), NODE);
});

Deno.test("provision: claims of other nodes, other provisioners, bound or with an existing PV are left alone", () => {
  const other = { [ANNOTATIONS.provisioner]: CSI_DRIVER, [ANNOTATIONS.selectedNode]: "other" };
  assert.equal(claimAction(pvc({ annotations: other }), new Map(), classes, NODE).op, "none");
  const foreign = { [ANNOTATIONS.provisioner]: "x.csi", [ANNOTATIONS.selectedNode]: NODE };
  assert.equal(claimAction(pvc({ annotations: foreign }), new Map(), classes, NODE).op, "none");
  // The beta annotation counts as well.
  const beta = { [ANNOTATIONS.provisionerBeta]: CSI_DRIVER, [ANNOTATIONS.selectedNode]: NODE };
  assert.equal(claimAction(pvc({ annotations: beta }), new Map(), classes, NODE).op, "provision");
  assert.equal(claimAction(pvc(), new Map([["pvc-u1", provisioned()]]), classes, NODE).op, "none");
  assert.equal(claimAction(pvc(), new Map(), new Map(), NODE).op, "none", "unknown class");
});

Deno.test("provision: block mode, shared access modes and bad sizes are refused with a reason", () => {
  const refuse = (spec: object) => {
    const a = claimAction(pvc({ spec }), new Map(), classes, NODE);
    assert.equal(a.op, "refuse");
    return a.op === "refuse" ? a.reason : "";
  };
  assert.match(refuse({ volumeMode: "Block" }), /block volume mode/);
  assert.match(refuse({ accessModes: ["ReadWriteMany"] }), /ReadWriteMany/);
  assert.match(refuse({ resources: { requests: { storage: "lots" } } }), /not a quantity/);
  assert.match(refuse({ resources: {} }), /no storage request/);
});

Deno.test("provision: a bound claim asking for more than its PV has is resized; equal sizes are left alone", () => {
  const pv = provisioned();
  const pvs = new Map([["pvc-u1", pv]]);
  const bound = (storage: string, reported = "64Mi") =>
    pvc({
      spec: { volumeName: "pvc-u1", resources: { requests: { storage } } },
      status: { phase: "Bound", capacity: { storage: reported } },
    });
  assert.equal(claimAction(bound("64Mi"), pvs, classes, NODE).op, "none");
  const a = claimAction(bound("128Mi"), pvs, classes, NODE);
  assert.deepEqual(a.op === "resize" && [a.volume, a.pv, a.bytes], [
    "pvc-u1",
    "pvc-u1",
    128n << 20n,
  ]);
  // The PV already grew but the claim's status did not: finish the report.
  const grown = parsePv({ ...pv, spec: { ...pv.spec, capacity: { storage: "128Mi" } } })!;
  const b = claimAction(bound("128Mi"), new Map([["pvc-u1", grown]]), classes, NODE);
  assert.equal(b.op === "resize" && b.bytes, 128n << 20n);
  // A PV of another node or bound to another claim is not ours to resize.
  const stolen = parsePv({ ...pv, spec: { ...pv.spec, claimRef: { uid: "u2" } } })!;
  assert.equal(claimAction(bound("1Gi"), new Map([["pvc-u1", stolen]]), classes, "x").op, "none");
  assert.equal(claimAction(bound("1Gi"), new Map([["pvc-u1", stolen]]), classes, NODE).op, "none");
});

Deno.test("provision: a released PV of ours with reclaim Delete is deleted; others stay", () => {
  const pv = provisioned();
  const at = (phase: string, over: object = {}) =>
    volumeAction(parsePv({ ...pv, ...over, status: { phase } })!, NODE);
  assert.deepEqual(at("Released"), { op: "delete", pv: "pvc-u1", volume: "pvc-u1" });
  assert.equal(at("Bound").op, "none");
  assert.equal(volumeAction(parsePv({ ...pv, status: { phase: "Released" } })!, "x").op, "none");
  const retain = { spec: { ...pv.spec, persistentVolumeReclaimPolicy: "Retain" } };
  assert.equal(at("Released", retain).op, "none");
  const foreign = { spec: { ...pv.spec, csi: { driver: "x", volumeHandle: "v" } } };
  assert.equal(at("Released", foreign).op, "none");
});
