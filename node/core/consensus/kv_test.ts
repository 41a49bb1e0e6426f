import assert from "node:assert/strict";
import { startTestEtcd } from "./testing.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => b ? new TextDecoder().decode(b) : undefined;

Deno.test("KV against real etcd: namespaces, transactions, watches", async (t) => {
  const etcd = await startTestEtcd();
  try {
    const cur = etcd.kv.namespace("curator/");
    const pki = cur.namespace("cluster-pki/");

    await t.step("namespaced put/get/list confine keys", async () => {
      await cur.put("nodes/a", enc("A"));
      await pki.put("issued/ca-cert.der", enc("CA"));
      assert.equal(dec((await etcd.kv.get("curator/nodes/a"))?.value), "A");
      assert.equal(dec((await cur.get("cluster-pki/issued/ca-cert.der"))?.value), "CA");
      const { entries, revision } = await cur.list("nodes/");
      assert.deepEqual(entries.map((e) => e.key), ["nodes/a"]);
      assert.ok(revision >= entries[0].modRevision);
      assert.deepEqual((await pki.list()).entries.map((e) => e.key), ["issued/ca-cert.der"]);
      assert.equal(await cur.get("missing"), undefined);
    });

    await t.step("guarded transaction: create-if-absent and revision guards", async () => {
      const create = () =>
        cur.txn([{ key: "global/ticket", target: "create", op: "==", value: 0n }], [{
          put: "global/ticket",
          value: "first",
        }], [{ get: "global/ticket" }]);
      const a = await create();
      assert.equal(a.succeeded, true);
      const b = await create();
      assert.equal(b.succeeded, false);
      assert.equal(dec(b.gets[0]?.value), "first");
      assert.equal(b.gets[0]?.key, "global/ticket");
      const e = (await cur.get("global/ticket"))!;
      const stale = await cur.txn(
        [{ key: "global/ticket", target: "mod", op: "==", value: e.modRevision - 1n }],
        [{ put: "global/ticket", value: "x" }],
      );
      assert.equal(stale.succeeded, false);
      const ok = await cur.txn(
        [{ key: "global/ticket", target: "value", op: "==", value: "first" }],
        [{ put: "global/ticket", value: "second" }, { delete: "nodes/a" }],
      );
      assert.equal(ok.succeeded, true);
      assert.equal(dec((await cur.get("global/ticket"))?.value), "second");
      assert.equal(await cur.get("nodes/a"), undefined);
      const always = await cur.txn([], [{ put: "x", value: "1" }]);
      assert.equal(always.succeeded, true);
    });

    await t.step("watch from a revision sees backlog then live changes, unprefixed", async () => {
      const start = await cur.revision();
      await cur.put("nodes/w1", "1");
      const seen: string[] = [];
      let done!: () => void;
      const finished = new Promise<void>((r) => done = r);
      const w = await cur.watch("nodes/", start + 1n, (ev) => {
        seen.push(`${ev.type}:${ev.entry.key}`);
        if (seen.length === 3) done();
      });
      await cur.put("nodes/w2", "2");
      await cur.delete("nodes/w1");
      await cur.put("other/ignored", "x");
      await finished;
      await w.cancel();
      assert.deepEqual(seen, ["put:nodes/w1", "put:nodes/w2", "delete:nodes/w1"]);
    });
  } finally {
    await etcd.stop();
  }
});
