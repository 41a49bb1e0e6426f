/**
 * What the local-volume provisioner does about each claim and volume (kubernetes.md §11), as pure
 * decisions over the informers' state:
 *
 * - a PVC of a StorageClass whose provisioner is ours, that the scheduler placed on this node
 *   (`volume.kubernetes.io/selected-node`, WaitForFirstConsumer) and that has no volume yet →
 *   **provision** `/data/volumes/pvc-<uid>` with a quota of the request and a PV bound to the
 *   claim, pinned to this node (node affinity on `kubernetes.io/hostname`);
 * - a bound PVC of one of our PVs whose request exceeds the PV's capacity → **resize**: raise the
 *   quota, then report the new size in the PVC's status and the PV's capacity;
 * - a PV of ours that was released with reclaim policy Delete → **delete** the directory, its
 *   quota and the PV.
 *
 * Objects are decoded with zod; what does not decode is not ours to touch.
 */
import { z } from "zod";
import type { KubeObject } from "../client/client.ts";
import { CSI_DRIVER } from "../reconciler/objects.ts";
import { bytesQuantity, quantityBytes } from "./quantity.ts";

/** Annotations the PV controller and the scheduler put on a claim. */
export const ANNOTATIONS = {
  provisioner: "volume.kubernetes.io/storage-provisioner",
  provisionerBeta: "volume.beta.kubernetes.io/storage-provisioner",
  selectedNode: "volume.kubernetes.io/selected-node",
  provisionedBy: "pv.kubernetes.io/provisioned-by",
} as const;

/** Node label the PVs' node affinity selects on (the kubelet sets it to the node name). */
export const HOSTNAME_LABEL = "kubernetes.io/hostname";

/** Bytes of quota per inode allowed: one inode per 2 KiB (XFS: 512-byte inodes, ≤ 25 %). */
export const BYTES_PER_INODE = 2048n;

const strings = z.record(z.string(), z.string());

export const PvcSchema = z.object({
  metadata: z.object({
    name: z.string(),
    namespace: z.string(),
    uid: z.string(),
    resourceVersion: z.string().optional(),
    annotations: strings.optional(),
    deletionTimestamp: z.string().optional(),
  }),
  spec: z.object({
    storageClassName: z.string().optional(),
    volumeName: z.string().optional(),
    volumeMode: z.string().optional(),
    accessModes: z.array(z.string()).optional(),
    resources: z.object({ requests: strings.optional() }).optional(),
  }),
  status: z.object({ phase: z.string().optional(), capacity: strings.optional() }).optional(),
});
export type Pvc = z.infer<typeof PvcSchema>;

export const PvSchema = z.object({
  metadata: z.object({ name: z.string(), deletionTimestamp: z.string().optional() }),
  spec: z.object({
    csi: z.object({ driver: z.string(), volumeHandle: z.string() }).optional(),
    capacity: strings.optional(),
    claimRef: z.object({
      namespace: z.string().optional(),
      name: z.string().optional(),
      uid: z.string().optional(),
    }).optional(),
    persistentVolumeReclaimPolicy: z.string().optional(),
    volumeMode: z.string().optional(),
    nodeAffinity: z.object({
      required: z.object({
        nodeSelectorTerms: z.array(z.object({
          matchExpressions: z.array(z.object({
            key: z.string(),
            operator: z.string(),
            values: z.array(z.string()).optional(),
          })).optional(),
        })),
      }).optional(),
    }).optional(),
  }),
  status: z.object({ phase: z.string().optional() }).optional(),
});
export type Pv = z.infer<typeof PvSchema>;

export const StorageClassSchema = z.object({
  metadata: z.object({ name: z.string() }),
  provisioner: z.string(),
  reclaimPolicy: z.string().optional(),
  mountOptions: z.array(z.string()).optional(),
});
export type StorageClass = z.infer<typeof StorageClassSchema>;

/** A zod parse for an informer: the object, or undefined when it does not decode. */
export function parser<T>(schema: z.ZodType<T>): (o: KubeObject) => T | undefined {
  return (o) => {
    const r = schema.safeParse(o);
    return r.success ? r.data : undefined;
  };
}

/** The PV (and volume directory) name of a claim. */
export function volumeName(pvc: Pvc): string {
  return `pvc-${pvc.metadata.uid}`;
}

/** The node a PV of ours is pinned to; undefined for PVs that are not ours. */
export function pvNode(pv: Pv): string | undefined {
  if (pv.spec.csi?.driver !== CSI_DRIVER) return undefined;
  const e = pv.spec.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions?.[0];
  if (e?.key !== HOSTNAME_LABEL || e.operator !== "In" || e.values?.length !== 1) return undefined;
  return e.values[0];
}

/** What to do about one claim. */
export type ClaimAction =
  | { op: "provision"; pvc: Pvc; volume: string; bytes: bigint; pv: KubeObject }
  | { op: "resize"; pvc: Pvc; volume: string; pv: string; bytes: bigint }
  | { op: "refuse"; pvc: Pvc; reason: string }
  | { op: "none" };

const SINGLE_NODE_MODES = new Set(["ReadWriteOnce", "ReadWriteOncePod"]);

function requestBytes(pvc: Pvc): bigint {
  const q = pvc.spec.resources?.requests?.storage;
  if (q === undefined) throw new Error("no storage request");
  const b = quantityBytes(q);
  if (b <= 0n) throw new Error(`storage request ${q} is not positive`);
  return b;
}

function sizeOf(q: string | undefined): bigint {
  try {
    return q === undefined ? 0n : quantityBytes(q);
  } catch {
    return 0n;
  }
}

/** The decision for `pvc` (see the module comment). */
export function claimAction(
  pvc: Pvc,
  pvs: ReadonlyMap<string, Pv>,
  classes: ReadonlyMap<string, StorageClass>,
  nodeId: string,
): ClaimAction {
  const a = pvc.metadata.annotations ?? {};
  const ours = (a[ANNOTATIONS.provisioner] ?? a[ANNOTATIONS.provisionerBeta]) === CSI_DRIVER;
  if (!ours || a[ANNOTATIONS.selectedNode] !== nodeId || pvc.metadata.deletionTimestamp) {
    return { op: "none" };
  }
  const volume = volumeName(pvc);
  if (!pvc.spec.volumeName) {
    const sc = classes.get(pvc.spec.storageClassName ?? "");
    if (sc?.provisioner !== CSI_DRIVER || pvs.has(volume)) return { op: "none" };
    if ((pvc.spec.volumeMode ?? "Filesystem") !== "Filesystem") {
      return { op: "refuse", pvc, reason: "block volume mode is not supported" };
    }
    const modes = pvc.spec.accessModes ?? [];
    const bad = modes.filter((m) => !SINGLE_NODE_MODES.has(m));
    if (modes.length === 0 || bad.length) {
      return {
        op: "refuse",
        pvc,
        reason: `unsupported access modes ${bad.join(", ") || "(none)"}`,
      };
    }
    let bytes: bigint;
    try {
      bytes = requestBytes(pvc);
    } catch (e) {
      return { op: "refuse", pvc, reason: (e as Error).message };
    }
    return { op: "provision", pvc, volume, bytes, pv: pvObject(pvc, sc, nodeId, bytes) };
  }
  const pv = pvs.get(pvc.spec.volumeName);
  if (
    pvc.status?.phase !== "Bound" || !pv || pvNode(pv) !== nodeId ||
    pv.spec.claimRef?.uid !== pvc.metadata.uid
  ) {
    return { op: "none" };
  }
  let want: bigint;
  try {
    want = requestBytes(pvc);
  } catch {
    return { op: "none" };
  }
  const has = sizeOf(pv.spec.capacity?.storage);
  const reported = sizeOf(pvc.status?.capacity?.storage);
  if (want <= has && want <= reported) return { op: "none" };
  return {
    op: "resize",
    pvc,
    volume: pv.spec.csi!.volumeHandle,
    pv: pv.metadata.name,
    bytes: want > has ? want : has,
  };
}

/** The PV provisioned for `pvc` (see the module comment). */
export function pvObject(pvc: Pvc, sc: StorageClass, nodeId: string, bytes: bigint): KubeObject {
  const name = volumeName(pvc);
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name, annotations: { [ANNOTATIONS.provisionedBy]: CSI_DRIVER } },
    spec: {
      accessModes: pvc.spec.accessModes,
      capacity: { storage: bytesQuantity(bytes) },
      csi: { driver: CSI_DRIVER, volumeHandle: name },
      claimRef: {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        namespace: pvc.metadata.namespace,
        name: pvc.metadata.name,
        uid: pvc.metadata.uid,
        ...(pvc.metadata.resourceVersion ? { resourceVersion: pvc.metadata.resourceVersion } : {}),
      },
      volumeMode: "Filesystem",
      storageClassName: sc.metadata.name,
      persistentVolumeReclaimPolicy: sc.reclaimPolicy ?? "Delete",
      ...(sc.mountOptions?.length ? { mountOptions: sc.mountOptions } : {}),
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [{
            matchExpressions: [{ key: HOSTNAME_LABEL, operator: "In", values: [nodeId] }],
          }],
        },
      },
    },
  };
}

/** What to do about one PV. */
export type VolumeAction = { op: "delete"; pv: string; volume: string } | { op: "none" };

/** A released PV of ours with reclaim policy Delete is deleted, with its directory. */
export function volumeAction(pv: Pv, nodeId: string): VolumeAction {
  if (pvNode(pv) !== nodeId || pv.metadata.deletionTimestamp) return { op: "none" };
  if ((pv.spec.persistentVolumeReclaimPolicy ?? "Delete") !== "Delete") return { op: "none" };
  if (pv.status?.phase !== "Released") return { op: "none" };
  return { op: "delete", pv: pv.metadata.name, volume: pv.spec.csi!.volumeHandle };
}
