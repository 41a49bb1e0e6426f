/**
 * Two controllers' reconcilers against one real kube-apiserver and its etcd (kubernetes.md §10):
 * one instance is active, an owner's deletion or edit of a builtin object is undone within
 * seconds (well inside the 60 s resync), the two never fight over an object, and when the
 * active one stops the other takes over.
 */
import assert from "node:assert/strict";
import { Value } from "../../base/event/value.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { Supervisor } from "../../base/supervisor/supervisor.ts";
import { cachedKube, startTestApiserver } from "../apiserver/testing.ts";
import type { KubeClient, KubeObject } from "../client/client.ts";
import { objectPath } from "./objects.ts";
import { reconciler } from "./reconciler.ts";

const KUBE = cachedKube();
const SKIP = KUBE
  ? undefined
  : "skipped: no cached kube binary (node/kubernetes/hyperkube/build.ts)";
if (SKIP) console.log(`reconciler election: ${SKIP}`);

async function eventually(
  what: string,
  f: () => Promise<boolean> | boolean,
  ms: number,
): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await f()) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function elected(tree: LogTree): boolean {
  return tree.dns().some((dn) =>
    tree.read(dn, { backlog: "all" }).backlog.some((e) =>
      e.leveled?.lines.some((l) => l.startsWith("elected"))
    )
  );
}

const get = (c: KubeClient, kind: string, name: string) => c.get(objectPath(kind, name));

Deno.test({
  name:
    "reconciler election on a real apiserver: one active instance, owner edits undone within seconds, no fighting, failover when the active one stops",
  ignore: SKIP !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const api = await startTestApiserver(KUBE!);
  const m = api.master;
  const trees = [new LogTree(), new LogTree()];
  const done = [new Value<boolean>(), new Value<boolean>()];
  const sups = trees.map((t, i) =>
    new Supervisor(
      t,
      reconciler({ client: m, kv: api.etcd.kv, done: done[i], nodeId: `n${i}` }),
    )
  );
  const stopped = new Set<number>();
  try {
    await eventually("both DONE", () => done.every((d) => d.get() === true), 30_000);
    const active = trees.map(elected);
    assert.equal(active.filter(Boolean).length, 1, `elected: ${active}`);
    const leader = active.indexOf(true);

    // No fighting: with the list in place, nothing is rewritten.
    const rv = async () =>
      (await Promise.all([
        get(m, "StorageClass", "local"),
        get(m, "ClusterRole", "metropolis:csi-provisioner"),
        get(m, "RuntimeClass", "runc"),
      ])).map((o) => o?.metadata.resourceVersion).join(",");
    const before = await rv();
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(await rv(), before, "builtin objects unchanged in steady state");

    // An owner deletes and edits builtin objects: undone long before the 60 s resync.
    await m.request("DELETE", objectPath("StorageClass", "local"));
    await m.request("DELETE", objectPath("RuntimeClass", "gvisor"));
    await m.request("PATCH", objectPath("ClusterRole", "metropolis:csi-provisioner"), {
      rules: [],
    }, { contentType: "application/merge-patch+json" });
    const took = await eventually("builtin objects restored", async () => {
      const [sc, rc, cr] = await Promise.all([
        get(m, "StorageClass", "local"),
        get(m, "RuntimeClass", "gvisor"),
        get(m, "ClusterRole", "metropolis:csi-provisioner"),
      ]);
      return !!sc && sc.allowVolumeExpansion === true && rc?.handler === "runsc" &&
        (cr?.rules ?? []).length === 5;
    }, 15_000);
    console.log(`  restored in ${(took / 1000).toFixed(1)} s`);

    // The active instance stops (resigning): the other takes over and keeps the list.
    await sups[leader].stop();
    stopped.add(leader);
    const other = 1 - leader;
    await eventually("the other instance elected", () => elected(trees[other]), 20_000);
    await m.request("DELETE", objectPath("RuntimeClass", "runc"));
    await eventually("restored by the new leader", async () => {
      const rc: KubeObject | undefined = await get(m, "RuntimeClass", "runc");
      return rc?.handler === "runc";
    }, 15_000);
  } finally {
    for (const [i, s] of sups.entries()) if (!stopped.has(i)) await s.stop();
    await api.close();
  }
});
