/**
 * The CSI node plugin (CSI spec v1, Identity and Node services) of the local volumes
 * (kubernetes.md §11): publishes a volume directory by binding it onto the kubelet's target path
 * ({@link publishPlan}), reports usage from the directory's project quota, and accepts online
 * expansion (the provisioner raises the quota; the node has nothing left to do). No staging, no
 * block volumes.
 */
import * as grpc from "@grpc/grpc-js";
import type { ServiceImplementation } from "../../../proto/grpc.ts";
import {
  type Identity,
  type Node,
  NodeServiceCapability_RPC_Type as Rpc,
  PluginCapability_VolumeExpansion_Type as Expansion,
  VolumeUsage_Unit as Unit,
} from "../../../proto/gen/third_party/csi/csi_pb.ts";
import { getQuota } from "../../base/fsquota/fsquota.ts";
import { runningVersion } from "../../base/osimage/version.ts";
import { SysError } from "../../base/sys/errno.ts";
import { mount, MS, umount } from "../../base/sys/mount.ts";
import { CSI_DRIVER } from "../reconciler/objects.ts";
import { checkTargetPath, checkVolumeId, CsiError, publishPlan } from "./publish.ts";

/** The plugin's version as reported by GetPluginInfo: the OS version the node runs. */
export const VENDOR_VERSION = runningVersion();

/** What the node plugin needs. */
export interface CsiNodeOptions {
  /** Kubernetes node name (= the Metropolis node ID). */
  nodeId: string;
  /** Where the volume directories are (`/data/volumes`). */
  volumesDir: string;
  /** The kubelet's root directory (targets must be below its `pods/`). */
  kubeletDir: string;
  /** Whether volume directories carry enforced project quotas (usage is read from them). */
  quotas: boolean;
}

/** A unary handler from a function that returns the response or throws {@link CsiError}. */
function unary<Req, Res>(f: (req: Req) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> {
  return (call, cb) => {
    Promise.resolve().then(() => f(call.request)).then(
      (res) => cb(null, res),
      (e) => {
        const code = e instanceof CsiError ? e.code : grpc.status.INTERNAL;
        cb({ code, details: String((e as Error)?.message ?? e).split("\n")[0] });
      },
    );
  };
}

function unimplemented<Req, Res>(what: string): grpc.handleUnaryCall<Req, Res> {
  return unary<Req, Res>(() => {
    throw new CsiError(grpc.status.UNIMPLEMENTED, `${what} is not supported`);
  });
}

/** Whether something is mounted at `path` (from /proc/self/mountinfo; a bind of a directory
 * of the same filesystem is invisible to a st_dev comparison). */
export function isMountPoint(path: string): boolean {
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").some((l) =>
    unescape(l.split(" ")[4] ?? "") === path
  );
}

/** The Identity service. */
export function identityService(): ServiceImplementation<typeof Identity.method> {
  return {
    getPluginInfo: unary(() => ({ name: CSI_DRIVER, vendorVersion: VENDOR_VERSION })),
    getPluginCapabilities: unary(() => ({
      capabilities: [{
        type: { case: "volumeExpansion", value: { type: Expansion.ONLINE } },
      }],
    })),
    probe: unary(() => ({ ready: true })),
  };
}

/** The Node service (see the module comment). */
export function nodeService(o: CsiNodeOptions): ServiceImplementation<typeof Node.method> {
  const rpc = (type: Rpc) => ({ type: { case: "rpc" as const, value: { type } } });
  return {
    nodeStageVolume: unimplemented("NodeStageVolume"),
    nodeUnstageVolume: unimplemented("NodeUnstageVolume"),
    nodePublishVolume: unary((req) => {
      const plan = publishPlan(req, { volumes: o.volumesDir, kubelet: o.kubeletDir });
      try {
        if (!Deno.statSync(plan.source).isDirectory) throw new Deno.errors.NotFound();
      } catch {
        throw new CsiError(grpc.status.NOT_FOUND, `volume ${req.volumeId} not found`);
      }
      Deno.mkdirSync(plan.target, { recursive: true, mode: 0o750 });
      // Publishing twice is allowed (idempotent): an existing mount is replaced.
      if (isMountPoint(plan.target)) umount(plan.target);
      mount(plan.source, plan.target, null, MS.BIND);
      try {
        mount(null, plan.target, null, plan.flags);
      } catch (e) {
        umount(plan.target);
        throw e;
      }
      return {};
    }),
    nodeUnpublishVolume: unary((req) => {
      checkVolumeId(req.volumeId);
      checkTargetPath(req.targetPath, o.kubeletDir);
      // Not mounted (any more) or gone: unpublishing is idempotent.
      while (isMountPoint(req.targetPath)) umount(req.targetPath);
      try {
        Deno.removeSync(req.targetPath);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      return {};
    }),
    nodeGetVolumeStats: unary((req) => {
      checkVolumeId(req.volumeId);
      if (!o.quotas) {
        throw new CsiError(grpc.status.FAILED_PRECONDITION, "no project quotas on this node");
      }
      let q;
      try {
        q = getQuota(req.volumePath);
      } catch (e) {
        if (e instanceof SysError && e.code === "ENOENT") {
          throw new CsiError(grpc.status.NOT_FOUND, `no volume at ${req.volumePath.slice(0, 200)}`);
        }
        throw e;
      }
      if (!q) throw new CsiError(grpc.status.NOT_FOUND, `volume ${req.volumeId} has no quota`);
      const usage = (unit: Unit, total: bigint, used: bigint) => ({
        unit,
        total,
        used,
        available: total > used ? total - used : 0n,
      });
      return {
        usage: [
          usage(Unit.BYTES, q.bytes, q.bytesUsed),
          usage(Unit.INODES, q.inodes, q.inodesUsed),
        ],
      };
    }),
    nodeExpandVolume: unary((req) => {
      checkVolumeId(req.volumeId);
      if (req.volumeCapability?.accessType.case === "block") {
        throw new CsiError(grpc.status.INVALID_ARGUMENT, "block volumes are not supported");
      }
      return { capacityBytes: req.capacityRange?.requiredBytes ?? 0n };
    }),
    nodeGetCapabilities: unary(() => ({
      capabilities: [
        rpc(Rpc.EXPAND_VOLUME),
        ...(o.quotas ? [rpc(Rpc.GET_VOLUME_STATS)] : []),
      ],
    })),
    nodeGetInfo: unary(() => ({ nodeId: o.nodeId, maxVolumesPerNode: 0n })),
  };
}
