import assert from "node:assert/strict";
import { BOOTSTRAP_RAFT, etcdArgs, type EtcdOptions } from "./etcd.ts";
import { PEER_PORT, peerURL } from "./membership.ts";

const o = {
  nodeId: "metropolis-0123456789abcdef0123456789abcdef",
  dataDir: "/data/etcd",
  socketDir: "/ephemeral/consensus",
  binary: "/etcd/bin/etcd",
} as EtcdOptions;

const flag = (args: string[], name: string) =>
  args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

Deno.test("every etcd start serves peers with TLS and client certificate auth", () => {
  for (
    const args of [
      etcdArgs(o),
      etcdArgs(o, { initialCluster: "x=https://x:7834", state: "existing" }),
      etcdArgs(o, { advertise: `https://127.0.0.1:${PEER_PORT}`, singleMemberBootstrap: true }),
    ]
  ) {
    assert.equal(flag(args, "listen-peer-urls"), `https://0.0.0.0:${PEER_PORT}`);
    assert.equal(flag(args, "peer-cert-file"), "/data/etcd/peer-pki/cert.pem");
    assert.equal(flag(args, "peer-trusted-ca-file"), "/data/etcd/peer-pki/ca.pem");
    assert.equal(flag(args, "peer-crl-file"), "/data/etcd/peer.crl");
    assert(args.includes("--peer-client-cert-auth"));
  }
});

Deno.test("the bootstrap run advertises loopback and elects itself quickly; later starts keep etcd's raft timing", () => {
  const boot = etcdArgs(o, {
    initialCluster: `${o.nodeId}=https://127.0.0.1:${PEER_PORT}`,
    state: "new",
    advertise: `https://127.0.0.1:${PEER_PORT}`,
    singleMemberBootstrap: true,
  });
  assert.equal(flag(boot, "initial-advertise-peer-urls"), `https://127.0.0.1:${PEER_PORT}`);
  assert.equal(flag(boot, "heartbeat-interval"), String(BOOTSTRAP_RAFT.heartbeatMs));
  assert.equal(flag(boot, "election-timeout"), String(BOOTSTRAP_RAFT.electionMs));
  // etcd refuses an election timeout below five heartbeats.
  assert(BOOTSTRAP_RAFT.electionMs >= 5 * BOOTSTRAP_RAFT.heartbeatMs);
  for (const later of [etcdArgs(o), etcdArgs(o, { initialCluster: "a", state: "existing" })]) {
    assert.equal(flag(later, "initial-advertise-peer-urls"), peerURL(o.nodeId));
    assert.equal(flag(later, "heartbeat-interval"), undefined);
    assert.equal(flag(later, "election-timeout"), undefined);
  }
});
