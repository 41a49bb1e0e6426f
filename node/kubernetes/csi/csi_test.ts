import assert from "node:assert/strict";
import { LogTree } from "../../base/logtree/logtree.ts";
import { run, signal, Supervisor, untilAborted } from "../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../base/supervisor/testing.ts";
import { startFakeApiserver } from "../reconciler/testing.ts";
import { CSI_DRIVER } from "../reconciler/objects.ts";
import { csi } from "./csi.ts";

Deno.test("csi runnable: creates the volumes directory, says when sizes are not enforced, serves both sockets while the provisioner waits for an apiserver", async () => {
  const dir = await Deno.makeTempDir();
  const sockets = {
    plugin: `${dir}/kubelet/plugins/${CSI_DRIVER}/csi.sock`,
    registration: `${dir}/kubelet/plugins_registry/${CSI_DRIVER}-reg.sock`,
  };
  // An apiserver that is not there: the provisioner fails and is restarted, the plugin serves.
  const fake = await startFakeApiserver();
  const client = fake.connect("https://127.0.0.1:1");
  const tree = new LogTree();
  const sup = new Supervisor(tree, async (ctx) => {
    run(
      ctx,
      "csi",
      csi({
        nodeId: "n",
        client,
        volumesDir: `${dir}/volumes`,
        kubeletDir: `${dir}/kubelet`,
        sockets,
      }),
    );
    signal(ctx, "healthy");
    await untilAborted(ctx);
  });
  const exists = (p: string) => {
    try {
      return Deno.statSync(p).isSocket === true;
    } catch {
      return false;
    }
  };
  try {
    await waitUntil(() => exists(sockets.plugin) && exists(sockets.registration), "sockets", 5000);
    assert.ok((await Deno.stat(`${dir}/volumes`)).isDirectory);
    const lines = tree.read("root.csi", { backlog: "all" }).backlog.flatMap((e) =>
      e.leveled?.lines ?? []
    );
    assert.ok(lines.some((l) => /no enforced project quotas/.test(l)), lines.join("\n"));
  } finally {
    await sup.stop();
    client.close();
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});
