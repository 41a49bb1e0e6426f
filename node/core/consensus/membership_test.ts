import assert from "node:assert/strict";
import { EtcdMembership } from "./membership.ts";
import { startTestEtcd } from "./testing.ts";

Deno.test("moveRaftLeader hands raft leadership to the named member (two real etcd members)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "metropolis-etcd2-" });
  const cluster = { dir, names: ["a", "b"] };
  const both = await Promise.all(cluster.names.map((name) => startTestEtcd({ name, cluster })));
  try {
    const status = async () => {
      const st = await both[0].client.maintenance.status();
      return { leader: String(st.leader), self: String(st.header.member_id) };
    };
    const before = await status();
    // Only the raft leader can hand over: ask the member that leads.
    const leaderEtcd = before.leader === before.self ? both[0] : both[1];
    const m = new EtcdMembership(leaderEtcd.client, leaderEtcd.kv);
    const other = (await m.members()).find((x) => x.id !== before.leader)!;
    await m.moveRaftLeader(other.id);
    assert.equal((await status()).leader, other.id);
  } finally {
    // One after the other: members stopping together wait for each other's leadership transfer.
    for (const e of both) await e.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
