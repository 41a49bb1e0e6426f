import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  NodePublishVolumeRequestSchema,
  VolumeCapability_AccessMode_Mode as Mode,
} from "../../../proto/gen/third_party/csi/csi_pb.ts";
import { MS } from "../../base/sys/mount.ts";
import { CsiError, publishPlan } from "./publish.ts";

const DIRS = { volumes: "/data/volumes", kubelet: "/data/kubernetes/kubelet" };
const TARGET = "/data/kubernetes/kubelet/pods/p1/volumes/kubernetes.io~csi/pvc-1/mount";

function req(o: {
  id?: string;
  target?: string;
  mode?: Mode;
  flags?: string[];
  block?: boolean;
  readonly?: boolean;
}) {
  return create(NodePublishVolumeRequestSchema, {
    volumeId: o.id ?? "pvc-1",
    targetPath: o.target ?? TARGET,
    readonly: o.readonly ?? false,
    volumeCapability: {
      accessMode: { mode: o.mode ?? Mode.SINGLE_NODE_WRITER },
      accessType: o.block
        ? { case: "block", value: {} }
        : { case: "mount", value: { mountFlags: o.flags ?? [] } },
    },
  });
}

function refused(r: ReturnType<typeof req>, pattern: RegExp) {
  assert.throws(() => publishPlan(r, DIRS), (e: unknown) => {
    assert.ok(e instanceof CsiError);
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("publish: binds the volume directory with nosuid,nodev,noexec unless the class's mount options lift them", () => {
  const base = MS.BIND | MS.REMOUNT;
  assert.deepEqual(publishPlan(req({}), DIRS), {
    source: "/data/volumes/pvc-1",
    target: TARGET,
    flags: base | MS.NOSUID | MS.NODEV | MS.NOEXEC,
  });
  assert.equal(publishPlan(req({ flags: ["exec", "dev", "suid"] }), DIRS).flags, base);
  assert.equal(
    publishPlan(req({ flags: ["exec"], readonly: true }), DIRS).flags,
    base | MS.NOSUID | MS.NODEV | MS.RDONLY,
  );
  assert.equal(
    publishPlan(req({ mode: Mode.SINGLE_NODE_READER_ONLY }), DIRS).flags & MS.RDONLY,
    MS.RDONLY,
  );
  assert.equal(
    publishPlan(req({ mode: Mode.SINGLE_NODE_MULTI_WRITER }), DIRS).source,
    "/data/volumes/pvc-1",
  );
});

Deno.test("publish: refuses escaping IDs and targets, shared access modes, block volumes and unknown options", () => {
  refused(req({ id: "../etc" }), /invalid volume id/);
  refused(req({ id: "pvc-1/../../x" }), /invalid volume id/);
  refused(req({ id: "a..b" }), /invalid volume id/);
  refused(req({ target: "/etc/passwd" }), /not below/);
  refused(req({ target: `${DIRS.kubelet}/pods/../../../etc` }), /not below/);
  refused(req({ mode: Mode.MULTI_NODE_MULTI_WRITER }), /access mode/);
  refused(req({ block: true }), /block volumes are not supported/);
  refused(req({ flags: ["bind"] }), /unsupported mount option bind/);
});
