import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { makeClient } from "../../../proto/grpc.ts";
import {
  Identity,
  Node,
  NodeServiceCapability_RPC_Type as Rpc,
  VolumeCapability_AccessMode_Mode as Mode,
} from "../../../proto/gen/third_party/csi/csi_pb.ts";
import { Registration } from "../../../proto/gen/third_party/pluginregistration/v1/api_pb.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { run, signal, Supervisor, untilAborted } from "../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../base/supervisor/testing.ts";
import { umount } from "../../base/sys/mount.ts";
import { runningVersion } from "../../base/osimage/version.ts";
import { CSI_DRIVER } from "../reconciler/objects.ts";
import { csiPlugin, SUPPORTED_VERSIONS } from "./plugin.ts";

function inode(path: string): number | undefined {
  try {
    return Deno.statSync(path).ino ?? undefined;
  } catch {
    return undefined;
  }
}

/** Mount options of the mount at `target` from /proc/self/mountinfo (undefined: not mounted). */
function mountOptions(target: string): string[] | undefined {
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const f = line.split(" ");
    if (f[4] === target) return f[5].split(",");
  }
  return undefined;
}

Deno.test("CSI plugin as the kubelet sees it: registration info, identity, node info and capabilities; publish binds the volume with the class's flags, unpublish is idempotent; a refused registration re-creates the socket", async () => {
  const dir = await Deno.makeTempDir();
  const sockets = {
    plugin: `${dir}/kubelet/plugins/${CSI_DRIVER}/csi.sock`,
    registration: `${dir}/kubelet/plugins_registry/${CSI_DRIVER}-reg.sock`,
  };
  const volumesDir = `${dir}/volumes`;
  const tree = new LogTree();
  const sup = new Supervisor(tree, async (ctx) => {
    run(
      ctx,
      "csi",
      csiPlugin({
        nodeId: "node-a",
        volumesDir,
        kubeletDir: `${dir}/kubelet`,
        quotas: false,
        sockets,
      }),
    );
    signal(ctx, "healthy");
    await untilAborted(ctx);
  });
  const insecure = grpc.credentials.createInsecure();
  const reg = makeClient(Registration, `unix://${sockets.registration}`, insecure);
  const id = makeClient(Identity, `unix://${sockets.plugin}`, insecure);
  const node = makeClient(Node, `unix://${sockets.plugin}`, insecure);
  const target = `${dir}/kubelet/pods/p1/volumes/kubernetes.io~csi/pvc-1/mount`;
  try {
    await waitUntil(() => inode(sockets.registration) !== undefined, "registration socket", 5000);
    const info = await reg.getInfo({});
    assert.equal(info.type, "CSIPlugin");
    assert.equal(info.name, CSI_DRIVER);
    assert.equal(info.endpoint, sockets.plugin);
    assert.deepEqual(info.supportedVersions, SUPPORTED_VERSIONS);
    await reg.notifyRegistrationStatus({ pluginRegistered: true });

    const plugin = await id.getPluginInfo({});
    assert.equal(plugin.name, CSI_DRIVER);
    assert.equal(plugin.vendorVersion, runningVersion(), "the OS version the node runs");
    assert.equal((await id.probe({})).ready, true);
    assert.equal((await node.nodeGetInfo({})).nodeId, "node-a");
    const caps = (await node.nodeGetCapabilities({})).capabilities.map((c) =>
      c.type.case === "rpc" ? c.type.value.type : undefined
    );
    assert.deepEqual(caps, [Rpc.EXPAND_VOLUME], "no volume stats without quotas");

    await Deno.mkdir(`${volumesDir}/pvc-1`, { recursive: true });
    await Deno.writeTextFile(`${volumesDir}/pvc-1/old`, "kept");
    const publish = (volumeId: string) =>
      node.nodePublishVolume({
        volumeId,
        targetPath: target,
        volumeCapability: {
          accessMode: { mode: Mode.SINGLE_NODE_WRITER },
          accessType: { case: "mount", value: { mountFlags: ["exec"] } },
        },
      });
    await publish("pvc-1");
    await publish("pvc-1"); // idempotent
    assert.equal(await Deno.readTextFile(`${target}/old`), "kept");
    await Deno.writeTextFile(`${target}/new`, "written through the mount");
    assert.equal(await Deno.readTextFile(`${volumesDir}/pvc-1/new`), "written through the mount");
    const opts = mountOptions(target)!;
    assert.ok(
      opts.includes("nosuid") && opts.includes("nodev") && !opts.includes("noexec"),
      `${opts}`,
    );

    await assert.rejects(
      publish("pvc-2"),
      (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND,
    );
    await assert.rejects(
      node.nodeGetVolumeStats({ volumeId: "pvc-1", volumePath: target }),
      (e: grpc.ServiceError) => e.code === grpc.status.FAILED_PRECONDITION,
    );
    const expanded = await node.nodeExpandVolume({
      volumeId: "pvc-1",
      volumePath: target,
      capacityRange: { requiredBytes: 1n << 27n },
    });
    assert.equal(expanded.capacityBytes, 1n << 27n);

    for (let i = 0; i < 2; i++) {
      await node.nodeUnpublishVolume({ volumeId: "pvc-1", targetPath: target });
    }
    assert.equal(mountOptions(target), undefined);
    await assert.rejects(Deno.stat(target), Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(`${volumesDir}/pvc-1/new`), "written through the mount");

    // The kubelet refuses: the registration child fails and comes back with a new socket.
    await reg.notifyRegistrationStatus({ pluginRegistered: false, error: "test says no" });
    const logs = () =>
      tree.dns().flatMap((dn) =>
        tree.read(dn, { backlog: "all" }).backlog.flatMap((e) => e.leveled?.lines ?? [])
      );
    await waitUntil(
      () =>
        logs().some((l) => /registration failed .*refused the registration: test says no/.test(l)),
      "registration child failed",
      5000,
    );
    await new Promise((r) => setTimeout(r, 100));
    await waitUntil(() => inode(sockets.registration) !== undefined, "socket back", 10_000);
    assert.equal((await reg.getInfo({})).name, CSI_DRIVER, "the new socket answers");
  } finally {
    reg.close();
    id.close();
    node.close();
    await sup.stop();
    if (mountOptions(target)) umount(target, 2);
    await Deno.remove(dir, { recursive: true });
  }
});
