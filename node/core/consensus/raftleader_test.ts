import assert from "node:assert/strict";
import type { Member } from "../curator/consensus_control.ts";
import { raftHandoverTarget } from "./raftleader.ts";

const member = (id: string, name: string, isLearner = false): Member => ({
  id,
  name,
  peerURLs: [`https://${name || "x"}:7834`],
  isLearner,
});
const members = [member("1", "a"), member("2", "b"), member("3", "c")];

Deno.test("raft handover: the raft leader on the curator leader's node hands over to another voter", () => {
  const v = { raftLeader: "1", self: "1", curatorLeadsHere: true, members };
  assert.equal(raftHandoverTarget(v, () => 0)?.id, "2");
  assert.equal(raftHandoverTarget(v, () => 0.99)?.id, "3");
});

Deno.test("raft handover: nothing to do unless this member leads raft and this node's curator leads", () => {
  assert.equal(
    raftHandoverTarget({ raftLeader: "2", self: "1", curatorLeadsHere: true, members }),
    undefined,
    "another member is raft leader",
  );
  assert.equal(
    raftHandoverTarget({ raftLeader: "1", self: "1", curatorLeadsHere: false, members }),
    undefined,
    "the curator leads elsewhere",
  );
});

Deno.test("raft handover: never to a learner or to a member that has not started", () => {
  const v = {
    raftLeader: "1",
    self: "1",
    curatorLeadsHere: true,
    members: [member("1", "a"), member("2", "b", true), member("3", "")],
  };
  assert.equal(raftHandoverTarget(v, () => 0), undefined);
  assert.equal(raftHandoverTarget({ ...v, members: [member("1", "a")] }, () => 0), undefined);
});
