import assert from "node:assert/strict";
import { Value } from "../../base/event/value.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { Supervisor } from "../../base/supervisor/supervisor.ts";
import { RecordingTiming, waitUntil } from "../../base/supervisor/testing.ts";
import { startTestEtcd } from "../../core/consensus/testing.ts";
import { BUILTIN_LABEL, builtinObjects, CSI_DRIVER, kindInfo, KINDS } from "./objects.ts";
import { reconciler } from "./reconciler.ts";
import { decodeStatus, RECONCILER_NAMESPACE, STATUS_KEY } from "./status.ts";
import { startFakeApiserver } from "./testing.ts";

const path = (kind: string, name: string) => `${kindInfo(kind).path}/${name}`;

Deno.test("reconciler: the elected controller creates the list, restores edits within the resync, deletes strays; others learn DONE", async () => {
  const etcd = await startTestEtcd();
  const api = await startFakeApiserver();
  // The second controller's client leads nowhere: if it ever reconciled, it would fail.
  const nowhere = api.connect("https://127.0.0.1:1");
  const sups: Supervisor[] = [];
  try {
    const done1 = new Value<boolean>();
    sups.push(
      new Supervisor(
        new LogTree(),
        reconciler({ client: api.client, kv: etcd.kv, done: done1, nodeId: "n1", resyncMs: 300 }),
      ),
    );
    await waitUntil(() => done1.get() === true, "first controller DONE", 10_000);
    const want = builtinObjects();
    assert.deepEqual(
      [...api.objects.keys()].sort(),
      want.map((o) => path(o.kind, o.metadata.name)).sort(),
    );
    for (const o of want) {
      const h = api.objects.get(path(o.kind, o.metadata.name))!;
      assert.equal(h.metadata.labels[BUILTIN_LABEL], "true");
      assert.ok(
        h.metadata.managedFields.some((f: { manager: string }) =>
          f.manager === "metropolis-reconciler"
        ),
      );
    }
    const status = decodeStatus((await etcd.kv.get(STATUS_KEY))?.value);
    assert.deepEqual(status, {
      state: "DONE",
      version: "0.1.0",
      minimumCompatibleRelease: { major: 0, minor: 1, patch: 0 },
    });

    const done2 = new Value<boolean>();
    sups.push(
      new Supervisor(
        new LogTree(),
        reconciler({ client: nowhere, kv: etcd.kv, done: done2, nodeId: "n2", resyncMs: 300 }),
      ),
    );
    await waitUntil(() => done2.get() === true, "second controller DONE from the status", 10_000);

    // Steady state: a resync with nothing to change writes nothing.
    const patches = () => api.requests.filter((r) => r.startsWith("PATCH")).length;
    const before = patches();
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(patches(), before, "no writes when the cluster holds the list");
    assert.ok(
      api.requests.filter((r) => r.startsWith("GET /apis/storage.k8s.io/v1/csidrivers")).length >=
        3,
    );

    // An owner deletes, edits (including an immutable field) and adds a labelled stray.
    const sc = KINDS.find((k) => k.kind === "StorageClass")!.path;
    const rc = KINDS.find((k) => k.kind === "RuntimeClass")!.path;
    const cr = KINDS.find((k) => k.kind === "ClusterRole")!.path;
    api.remove(sc, "local");
    const role = structuredClone(api.objects.get(`${cr}/metropolis:netservices`)!);
    role.rules = [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }];
    api.put(cr, role);
    api.put(rc, { metadata: { ...api.objects.get(`${rc}/runc`)!.metadata }, handler: "crun" });
    api.put(cr, { metadata: { name: "metropolis:gone", labels: { [BUILTIN_LABEL]: "true" } } });
    api.put(cr, { metadata: { name: "somebody-else" }, rules: [] });
    await waitUntil(
      () =>
        api.objects.has(`${sc}/local`) &&
        api.objects.get(`${rc}/runc`)!.handler === "runc" &&
        api.objects.get(`${cr}/metropolis:netservices`)!.rules.length === 4 &&
        !api.objects.has(`${cr}/metropolis:gone`),
      "builtin objects restored",
      5000,
    );
    assert.ok(api.objects.has(`${cr}/somebody-else`), "unlabelled objects are not touched");
    assert.equal(api.objects.get(`${sc}/local`)!.provisioner, CSI_DRIVER);
  } finally {
    for (const s of sups) await s.stop();
    nowhere.close();
    await api.close();
    await etcd.stop();
  }
});

Deno.test("reconciler: while the apiserver is down the leader backs off without taking an election lease; DONE once it returns", async () => {
  const etcd = await startTestEtcd();
  const api = await startFakeApiserver();
  api.down = true;
  const done = new Value<boolean>(false);
  // Restarts happen at once (realMs 0); the recorded delays show the backoff the supervisor chose.
  const timing = new RecordingTiming(() => 0.5, 0);
  const sup = new Supervisor(
    new LogTree(),
    reconciler({ client: api.client, kv: etcd.kv, done, resyncMs: 300 }),
    { timing },
  );
  try {
    await waitUntil(() => timing.delays.length >= 4, "leader restarted while down", 5000);
    const d = timing.delays.slice(0, 4);
    assert.ok(d.every((x, i) => i === 0 || x > d[i - 1]), `backoff grows: ${d}`);
    const { entries } = await etcd.kv.list(RECONCILER_NAMESPACE);
    assert.deepEqual(entries.map((e) => e.key), [], "no election key, no status written");
    assert.equal(done.get(), false);
    api.down = false;
    await waitUntil(() => done.get() === true, "DONE after the apiserver returned", 15_000);
    assert.equal(api.objects.size, builtinObjects().length);
  } finally {
    await sup.stop();
    await api.close();
    await etcd.stop();
  }
});
