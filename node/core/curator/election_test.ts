import assert from "node:assert/strict";
import { Etcd3 } from "etcd3";
import { KV } from "../consensus/kv.ts";
import { startTestEtcd } from "../consensus/testing.ts";
import { campaign, currentLeader, depose, type LeaderObservation } from "./election.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("election: lowest create revision leads; guard fences; failover on lease loss", async () => {
  const etcd = await startTestEtcd();
  // Two candidates on separate connections, like two nodes.
  const c2 = new Etcd3({ hosts: etcd.endpoint });
  try {
    const kv1 = etcd.kv.namespace("curator/");
    const kv2 = new KV(c2, "curator/");
    const a1 = new AbortController();
    const a2 = new AbortController();
    const l1 = await campaign(kv1, { ttl: 2, value: enc("node-1"), signal: a1.signal });
    assert.equal(dec((await currentLeader(kv1))!.value), "node-1");

    const seen: (LeaderObservation | undefined)[] = [];
    const p2 = campaign(kv2, {
      ttl: 2,
      value: enc("node-2"),
      signal: a2.signal,
      onLeader: (l) => seen.push(l),
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(dec(seen.at(-1)!.value), "node-1", "follower reports the current leader");

    // Leader writes are guarded by its election key's create revision.
    const w = await kv1.txn([l1.guard], [{ put: "global/x", value: "by-1" }]);
    assert.equal(w.succeeded, true);

    // Leader 1 loses its lease (its etcd session goes away): node 2 takes over.
    const t0 = Date.now();
    await l1.resign();
    assert.ok(l1.lost.aborted);
    const l2 = await p2;
    assert.ok(Date.now() - t0 < 3000, "failover after resign is immediate");
    assert.equal(dec((await currentLeader(kv2))!.value), "node-2");
    // The old leader's guard no longer holds.
    const stale = await kv1.txn([l1.guard], [{ put: "global/x", value: "stale" }]);
    assert.equal(stale.succeeded, false);
    assert.equal(dec((await kv2.get("global/x"))!.value), "by-1");
    a2.abort();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(l2.lost.aborted);
    a1.abort();
  } finally {
    c2.close();
    await etcd.stop();
  }
});

Deno.test("election: a leader whose process dies is replaced after the lease TTL", async () => {
  const etcd = await startTestEtcd();
  // The dying leader is a real separate process, killed with SIGKILL: no resign, no revoke.
  const root = new URL("../../..", import.meta.url).pathname;
  const code = `
    import { Etcd3 } from "etcd3";
    import { KV } from "./node/core/consensus/kv.ts";
    import { campaign } from "./node/core/curator/election.ts";
    const kv = new KV(new Etcd3({ hosts: ${JSON.stringify(etcd.endpoint)} }), "curator/");
    await campaign(kv, { ttl: 2, value: new TextEncoder().encode("dying"),
      signal: new AbortController().signal });
    console.log("LEADING");
    await new Promise(() => {});`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let text = "";
    while (!text.includes("LEADING")) {
      const { value, done } = await out.read();
      if (done) throw new Error("leader process exited early");
      text += value;
    }
    const kv2 = etcd.kv.namespace("curator/");
    const a2 = new AbortController();
    const p2 = campaign(kv2, { ttl: 2, value: enc("heir"), signal: a2.signal });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(dec((await currentLeader(kv2))!.value), "dying");
    const t0 = Date.now();
    child.kill("SIGKILL");
    const l2 = await p2;
    const took = Date.now() - t0;
    assert.ok(took >= 500 && took < 8000, `took ${took} ms`);
    assert.equal(dec((await currentLeader(kv2))!.value), "heir");
    a2.abort();
    await l2.resign();
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already dead */ }
    await child.status;
    await out.cancel().catch(() => {});
    await etcd.stop();
  }
});

Deno.test("election: a candidate removes stale keys of its own earlier incarnation", async () => {
  const etcd = await startTestEtcd();
  try {
    const kv = etcd.kv.namespace("curator/");
    // An earlier incarnation's key on a long lease that nobody keeps alive any more.
    const old = etcd.client.lease(60, { autoKeepAlive: false });
    const oldId = await old.grant();
    await kv.put(`leader/${BigInt(oldId).toString(16)}`, enc("node-a"), oldId);
    const a = new AbortController();
    const l = await campaign(kv, { ttl: 2, value: enc("node-a"), signal: a.signal });
    assert.equal(l.key, `leader/${BigInt(l.leaseId).toString(16)}`);
    const keys = (await kv.list("leader/")).entries.map((e) => e.key);
    assert.deepEqual(keys, [l.key], "only the live key remains");
    a.abort();
    await old.revoke().catch(() => {});
  } finally {
    await etcd.stop();
  }
});

Deno.test("election: only the next in line watches the leader, and deposing it hands over at once", async () => {
  const etcd = await startTestEtcd();
  // Each candidate on its own connection, like three nodes; leases far longer than the test.
  const clients = [new Etcd3({ hosts: etcd.endpoint }), new Etcd3({ hosts: etcd.endpoint })];
  try {
    const kv1 = etcd.kv.namespace("curator/");
    const [kv2, kv3] = clients.map((c) => new KV(c, "curator/"));
    const aborts = [new AbortController(), new AbortController(), new AbortController()];
    const l1 = await campaign(kv1, { ttl: 30, value: enc("one"), signal: aborts[0].signal });
    const watched: [string, string][] = [];
    const deposeNow = Promise.withResolvers<void>();
    const p2 = campaign(kv2, {
      ttl: 30,
      value: enc("two"),
      signal: aborts[1].signal,
      whileNext: async (l) => {
        watched.push(["two", dec(l.value)]);
        await deposeNow.promise;
        assert.equal(await depose(kv2, l), true);
      },
    });
    await new Promise((r) => setTimeout(r, 300));
    const p3 = campaign(kv3, {
      ttl: 30,
      value: enc("three"),
      signal: aborts[2].signal,
      whileNext: async (l, next) => {
        watched.push(["three", dec(l.value)]);
        await new Promise((r) => next.addEventListener("abort", r, { once: true }));
      },
    });
    await new Promise((r) => setTimeout(r, 300));
    // Two watches again after three joined (any change under the prefix restarts the watch).
    assert.ok(watched.length > 0, "the next in line watches");
    for (const w of watched) {
      assert.deepEqual(w, ["two", "one"], "the third in line does not watch");
    }

    const t0 = Date.now();
    deposeNow.resolve();
    const l2 = await p2;
    assert.ok(Date.now() - t0 < 3000, "the next in line leads at once, not after the 30 s lease");
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(l1.lost.aborted, "the deposed leader sees its key go");
    assert.match(String(l1.lost.reason?.message), /deleted/);
    assert.deepEqual(watched.at(-1), ["three", "two"], "the third is now next behind two");
    // Deposing an observation of an earlier term changes nothing.
    const stale = { ...(await currentLeader(kv1))!, createRevision: l1.createRevision };
    assert.equal(await depose(kv1, stale), false);
    assert.equal(dec((await currentLeader(kv1))!.value), "two");

    for (const a of aborts) a.abort();
    await p3.catch(() => {});
    await l2.resign();
  } finally {
    for (const c of clients) c.close();
    await etcd.stop();
  }
});

Deno.test("election: a candidate aborted just as it wins gives the win up", async () => {
  const etcd = await startTestEtcd();
  const c2 = new Etcd3({ hosts: etcd.endpoint });
  try {
    const kv1 = etcd.kv.namespace("curator/");
    const a1 = new AbortController();
    const l1 = await campaign(kv1, { ttl: 30, value: enc("one"), signal: a1.signal });
    // Candidate two's abort lands while it reads the election after one resigned, the moment
    // it finds itself first: no abort listener of the campaign is waiting then.
    const a2 = new AbortController();
    let armed = false;
    class AbortingKV extends KV {
      override async list(prefix = "") {
        const r = await super.list(prefix);
        if (armed) a2.abort(new Error("stopping"));
        return r;
      }
    }
    const p2 = campaign(new AbortingKV(c2, "curator/"), {
      ttl: 30,
      value: enc("two"),
      signal: a2.signal,
    });
    await new Promise((r) => setTimeout(r, 300));
    armed = true;
    await l1.resign();
    await assert.rejects(p2, /stopping/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await currentLeader(kv1), undefined, "its key went with its lease");
    a1.abort();
  } finally {
    c2.close();
    await etcd.stop();
  }
});
