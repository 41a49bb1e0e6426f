/**
 * What NodePublishVolume does, computed from the request alone: which volume directory is bound
 * where, with which mount flags — or why the request is refused (a {@link CsiError} carrying the
 * gRPC status code). Pure, so every refusal is unit-tested without mounting anything.
 *
 * Volumes are directories `<volumes>/<volume id>` bound onto the kubelet's target path, then
 * remounted with the flags: `nosuid`, `nodev`, `noexec` unless the StorageClass's mount options
 * (CSI `mount_flags`) say `suid`, `dev`, `exec`; read-only when the kubelet asks for it.
 */
import * as grpc from "@grpc/grpc-js";
import { MS } from "../../base/sys/mount.ts";
import {
  type NodePublishVolumeRequest,
  VolumeCapability_AccessMode_Mode as Mode,
} from "../../../proto/gen/third_party/csi/csi_pb.ts";

/** A refused CSI call: gRPC status code and a one-line message. */
export class CsiError extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

/**
 * Volume IDs we accept: the names the provisioner gives (`pvc-<uid>`), at most 130 characters so
 * that paths stay short, and never anything that could leave the volumes directory.
 */
export const VOLUME_ID = /^[a-z][a-z0-9.-]{0,128}[a-z0-9]$/;

/** Throws INVALID_ARGUMENT unless `id` is a volume ID we could have provisioned. */
export function checkVolumeId(id: string): void {
  if (!VOLUME_ID.test(id) || id.includes("..")) {
    throw new CsiError(grpc.status.INVALID_ARGUMENT, `invalid volume id ${JSON.stringify(id)}`);
  }
}

/** Access modes of a single-node volume (the kubelet's RWO and RWOP, read-only or not). */
const SINGLE_NODE = new Set([
  Mode.SINGLE_NODE_WRITER,
  Mode.SINGLE_NODE_READER_ONLY,
  Mode.SINGLE_NODE_SINGLE_WRITER,
  Mode.SINGLE_NODE_MULTI_WRITER,
]);

/** Mount options of a StorageClass we understand, as flags to clear (+) or set (-). */
const OPTIONS: Record<string, { clear?: number; set?: number }> = {
  suid: { clear: MS.NOSUID },
  nosuid: { set: MS.NOSUID },
  dev: { clear: MS.NODEV },
  nodev: { set: MS.NODEV },
  exec: { clear: MS.NOEXEC },
  noexec: { set: MS.NOEXEC },
  ro: { set: MS.RDONLY },
  rw: {},
};

/** Where the kubelet may ask us to publish: below its pods directory. */
export function checkTargetPath(target: string, kubeletDir: string): void {
  const prefix = `${kubeletDir}/pods/`;
  if (!target.startsWith(prefix) || target.split("/").some((p) => p === ".." || p === ".")) {
    throw new CsiError(
      grpc.status.INVALID_ARGUMENT,
      `target path ${JSON.stringify(target.slice(0, 200))} is not below ${prefix}`,
    );
  }
}

/** The bind mount of one publish. */
export interface PublishPlan {
  source: string;
  target: string;
  /** Flags of the remount that follows the bind (`MS_BIND | MS_REMOUNT | …`). */
  flags: number;
}

/** Computes the publish of `req` (see the module comment); throws {@link CsiError}. */
export function publishPlan(
  req: Pick<
    NodePublishVolumeRequest,
    "volumeId" | "targetPath" | "readonly" | "volumeCapability" | "stagingTargetPath"
  >,
  dirs: { volumes: string; kubelet: string },
): PublishPlan {
  checkVolumeId(req.volumeId);
  checkTargetPath(req.targetPath, dirs.kubelet);
  const cap = req.volumeCapability;
  if (!cap) throw new CsiError(grpc.status.INVALID_ARGUMENT, "volume capability missing");
  const mode = cap.accessMode?.mode ?? Mode.UNKNOWN;
  if (!SINGLE_NODE.has(mode)) {
    throw new CsiError(grpc.status.INVALID_ARGUMENT, `unsupported access mode ${Mode[mode]}`);
  }
  if (cap.accessType.case !== "mount") {
    throw new CsiError(
      grpc.status.INVALID_ARGUMENT,
      cap.accessType.case === "block"
        ? "block volumes are not supported (filesystem volume mode only)"
        : "volume capability has no access type",
    );
  }
  let flags = MS.BIND | MS.REMOUNT | MS.NOSUID | MS.NODEV | MS.NOEXEC;
  for (const o of cap.accessType.value.mountFlags) {
    const f = OPTIONS[o];
    if (!f) {
      throw new CsiError(
        grpc.status.INVALID_ARGUMENT,
        `unsupported mount option ${o.slice(0, 50)}`,
      );
    }
    flags = (flags & ~(f.clear ?? 0)) | (f.set ?? 0);
  }
  if (req.readonly || mode === Mode.SINGLE_NODE_READER_ONLY) flags |= MS.RDONLY;
  return { source: `${dirs.volumes}/${req.volumeId}`, target: req.targetPath, flags };
}
