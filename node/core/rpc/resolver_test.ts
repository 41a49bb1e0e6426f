/**
 * The leader resolver against real TLS gRPC servers that play curators (generated services,
 * RpcServer, Authorizer): discovery via a follower, endpoint learning via Watch, leadership change.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { authorizationOf, makeClient, serviceDefinition } from "../../../proto/grpc.ts";
import {
  Curator,
  CuratorLocal,
  NodeSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { testCA, testNodeCert, testUserCert } from "../identity/testing.ts";
import { Authorizer, authorizeService, RpcServer } from "./mod.ts";
import {
  curatorsOf,
  FOLLOWED_FOR_RETRY_AT_ONCE_MS,
  type Leader,
  leaderFromResponse,
  LeaderResolver,
  normalizeSeed,
  PORT_WATCH_MIN_WAIT_MS,
} from "./resolver.ts";
import { create } from "@bufbuild/protobuf";

// deno-lint-ignore no-explicit-any
type Any = any;

Deno.test("seed normalization and response interpretation", () => {
  assert.equal(normalizeSeed("10.0.0.1"), "10.0.0.1:7835");
  assert.equal(normalizeSeed("10.0.0.1:1"), "10.0.0.1:1");
  assert.equal(normalizeSeed("::1"), "[::1]:7835");
  assert.equal(normalizeSeed("[::1]:5"), "[::1]:5");
  const r = (o: Any) => ({ leaderNodeId: "", leaderHost: "", leaderPort: 0, thisNodeId: "", ...o });
  assert.equal(leaderFromResponse(r({}), "s:1"), undefined);
  assert.deepEqual(
    leaderFromResponse(r({ leaderNodeId: "a", leaderHost: "h", leaderPort: 9 }), "s:1"),
    {
      nodeId: "a",
      address: "h:9",
    },
  );
  assert.deepEqual(
    leaderFromResponse(r({ leaderNodeId: "a", thisNodeId: "a", leaderPort: 7835 }), "s:1"),
    { nodeId: "a", address: "s:1" },
  );
  assert.throws(
    () => leaderFromResponse(r({ leaderNodeId: "a", leaderHost: "h" }), "s:1"),
    /port 0/,
  );
  assert.throws(
    () => leaderFromResponse(r({ leaderNodeId: "a", thisNodeId: "b" }), "s:1"),
    /without address/,
  );
});

Deno.test("learn: a node watch's curators become seeds once; nodes without address or curator do not", () => {
  const node = (id: string, externalAddress: string, port?: number) =>
    create(NodeSchema, {
      id,
      status: { externalAddress, ...(port ? { runningCurator: { port } } : {}) },
    });
  const curators = curatorsOf([
    node("a", "10.0.0.1", 7835),
    node("b", "10.0.0.2"),
    node("c", "", 7835),
    node("d", "fd00::4", 7835),
  ]);
  assert.deepEqual(curators, [
    { nodeId: "a", seed: "10.0.0.1:7835" },
    { nodeId: "d", seed: "[fd00::4]:7835" },
  ]);
  const lines: string[] = [];
  const r = new LeaderResolver({
    seeds: ["10.0.0.1"],
    ca: new Uint8Array(),
    log: (l) => lines.push(l),
  });
  r.learn(curators);
  r.learn(curators);
  assert.deepEqual(r.seeds(), ["10.0.0.1:7835", "[fd00::4]:7835"]);
  assert.deepEqual(lines, ["learned curator d at [fd00::4]:7835"]);
});

/** A TLS gRPC server as the node of `cert` whose services authorize callers as a curator's do. */
function curatorServer(
  caDer: Uint8Array,
  cert: { certificate: Uint8Array; privateKey: CryptoKey },
) {
  const server = new RpcServer(cert);
  const authz = new Authorizer({
    authorizationOf,
    peerCertificates: (p) => server.peerCertificates(p),
    clusterCA: caDer,
  });
  const serve = (service: Parameters<typeof serviceDefinition>[0], impl: Any) => {
    const def = serviceDefinition(service);
    server.grpc.addService(def, authorizeService(def, impl, authz));
  };
  return { server, serve };
}

interface FakeNode {
  id: string;
  port: number;
  server: RpcServer;
}

Deno.test("resolver: follower seed → leader, Watch adds seeds, follows a leadership change", async () => {
  const ca = testCA();
  const caDer = await ca.certificate();
  const owner = await testUserCert(ca, "owner");
  // Cluster state shared by the fake curators.
  let leaderIdx = 0;
  const streams = new Set<Any>();
  const nodes: FakeNode[] = [];
  for (let i = 0; i < 3; i++) {
    const cert = await testNodeCert(ca);
    const { id } = cert;
    const { server, serve } = curatorServer(caDer, cert);
    const me = i;
    serve(CuratorLocal, {
      getCurrentLeader: (call: Any) => {
        const l = nodes[leaderIdx];
        call.write(
          me === leaderIdx
            // The leader does not know its external address: the seed is the leader.
            ? { leaderNodeId: l.id, leaderHost: "", leaderPort: 7835, thisNodeId: id }
            : { leaderNodeId: l.id, leaderHost: "127.0.0.1", leaderPort: l.port, thisNodeId: id },
        );
        streams.add(call);
        call.on("cancelled", () => streams.delete(call));
      },
    });
    serve(Curator, {
      watch: (call: Any) => {
        if (me !== leaderIdx) {
          call.emit("error", { code: grpc.status.UNAVAILABLE, details: "not the leader" });
          return;
        }
        call.write({
          nodes: nodes.map((n) => ({
            id: n.id,
            status: { externalAddress: "127.0.0.1", runningCurator: { port: n.port } },
          })),
        });
      },
    });
    const port = await server.listen(0, "127.0.0.1");
    nodes.push({ id, port, server });
  }
  const log: string[] = [];
  const resolver = new LeaderResolver({
    seeds: [`127.0.0.1:${nodes[1].port}`],
    ca: caDer,
    identity: owner,
    log: (l) => log.push(l),
    backoff: { initialMs: 100, maxMs: 1000 },
  });
  const changes: (Leader | undefined)[] = [];
  resolver.onChange((l) => changes.push(l));
  resolver.start();
  try {
    const l = await resolver.leader(AbortSignal.timeout(10_000));
    assert.deepEqual(l, { nodeId: nodes[0].id, address: `127.0.0.1:${nodes[0].port}` });
    // Watch on the leader teaches the other curators.
    const deadline = Date.now() + 10_000;
    while (resolver.seeds().length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(resolver.seeds().length, 3, log.join("\n"));
    // A client for the leader verifies its node ID.
    const c = await resolver.connection();
    assert.equal(c.leader.nodeId, nodes[0].id);
    assert.equal(c.options["grpc.ssl_target_name_override"], nodes[0].id);
    await c.close();

    // Leadership moves to node 2; every GetCurrentLeader stream ends as on upstream followers.
    leaderIdx = 2;
    for (const s of streams) s.emit("error", { code: grpc.status.UNAVAILABLE, details: "moved" });
    const until = Date.now() + 10_000;
    while (resolver.current()?.nodeId !== nodes[2].id && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(resolver.current()?.nodeId, nodes[2].id, log.join("\n"));
    assert.equal(resolver.current()?.address, `127.0.0.1:${nodes[2].port}`);
    assert.ok(changes.some((x) => x === undefined), "leader loss was reported");
  } finally {
    await resolver.close();
    for (const n of nodes) await n.server.shutdown(false);
  }
});

Deno.test("resolver: a seed of a known node is dialled as it; leading, it shares the leader's connection", async () => {
  const ca = testCA();
  const caDer = await ca.certificate();
  const node = await testNodeCert(ca);
  const cert = await testNodeCert(ca);
  const { id } = cert;
  const { server, serve } = curatorServer(caDer, cert);
  serve(CuratorLocal, {
    getCurrentLeader: (call: Any) =>
      call.write({ leaderNodeId: id, leaderHost: "", leaderPort: 7835, thisNodeId: id }),
  });
  const port = await server.listen(0, "127.0.0.1");
  const seed = `127.0.0.1:${port}`;
  const log: string[] = [];
  const opts = {
    ca: caDer,
    identity: node,
    watchNodes: false,
    backoff: { initialMs: 50, maxMs: 50 },
  };
  const wrong = new LeaderResolver({
    ...opts,
    seeds: [{ nodeId: node.id, seed }],
    log: (l) => log.push(l),
  });
  const right = new LeaderResolver({ ...opts, seeds: [{ nodeId: id, seed }] });
  right.start();
  try {
    const l = await right.leader(AbortSignal.timeout(10_000));
    assert.deepEqual(l, { nodeId: id, address: seed });
    // What the node's leader clients do: a channel to the leader as that node.
    const c = await right.connection();
    const client = makeClient(CuratorLocal, c.address, c.credentials, c.options);
    const answer = await new Promise<Any>((resolve, reject) => {
      const s = client.getCurrentLeader({}) as Any;
      s.on("data", (r: Any) => {
        resolve(r);
        s.cancel();
      });
      s.on("error", (e: Any) => e.code !== grpc.status.CANCELLED && reject(e));
    });
    assert.equal(answer.thisNodeId, id);
    assert.equal(server.peers.size, 1, "the followed stream and the client share one connection");
    client.close();
    // The seed is not the node it was said to be: no leader from it.
    wrong.start();
    while (!log.some((x) => x.includes(`expected ${node.id}`))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(wrong.current(), undefined);
  } finally {
    await wrong.close();
    await right.close();
    await server.shutdown(false);
  }
});

Deno.test("resolver: unreachable and malformed seeds are skipped", async () => {
  const ca = testCA();
  const caDer = await ca.certificate();
  const mk = async (answer: (id: string, port: () => number) => Any) => {
    const { id, certificate, privateKey } = await testNodeCert(ca);
    const server = new RpcServer({ certificate, privateKey });
    let port = 0;
    const def = serviceDefinition(CuratorLocal);
    server.grpc.addService(def, {
      getCurrentLeader: (call: Any) => call.write(answer(id, () => port)),
    });
    port = await server.listen(0, "127.0.0.1");
    return { id, port, server };
  };
  const bad = await mk((id) => ({ leaderNodeId: id, leaderHost: "127.0.0.1", leaderPort: 0 }));
  const unknown = await mk(() => ({}));
  const good = await mk((id, port) => ({
    leaderNodeId: id,
    leaderHost: "127.0.0.1",
    leaderPort: port(),
    thisNodeId: id,
  }));
  const resolver = new LeaderResolver({
    seeds: [
      "127.0.0.1:1",
      `127.0.0.1:${bad.port}`,
      `127.0.0.1:${unknown.port}`,
      `127.0.0.1:${good.port}`,
    ],
    ca: caDer,
    backoff: { initialMs: 100, maxMs: 500 },
  });
  resolver.start();
  try {
    const l = await resolver.leader(AbortSignal.timeout(10_000));
    assert.equal(l.nodeId, good.id);
  } finally {
    await resolver.close();
    for (const n of [bad, unknown, good]) await n.server.shutdown(false);
  }
});

/**
 * Curators playing GetCurrentLeader only: `leader()` names the leader (-1: none known), each
 * answers once per call; `end` (default: never) ends a call after its answer; `ports` (default:
 * any free) where they listen; `ca` the cluster CA (default: a new one).
 */
async function leaderOnlyCurators(
  n: number,
  leader: () => number,
  end = false,
  ports: number[] = [],
  ca = testCA(),
) {
  const caDer = await ca.certificate();
  const calls: Any[] = [];
  const nodes: { id: string; port: number; server: RpcServer }[] = [];
  for (let i = 0; i < n; i++) {
    const { id, certificate, privateKey } = await testNodeCert(ca);
    const server = new RpcServer({ certificate, privateKey });
    const me = i;
    server.grpc.addService(serviceDefinition(CuratorLocal), {
      getCurrentLeader: (call: Any) => {
        calls.push(call);
        if (leader() < 0) {
          call.write({ leaderNodeId: "", leaderHost: "", leaderPort: 0, thisNodeId: nodes[me].id });
          if (end) call.end();
          return;
        }
        const l = nodes[leader()];
        call.write({
          leaderNodeId: l.id,
          leaderHost: me === leader() ? "" : "127.0.0.1",
          leaderPort: l.port,
          thisNodeId: nodes[me].id,
        });
        if (end) call.end();
      },
    });
    nodes.push({ id, port: await server.listen(ports[i] ?? 0, "127.0.0.1"), server });
  }
  return {
    ca,
    caDer,
    nodes,
    calls,
    seeds: nodes.map((x) => ({ nodeId: x.id, seed: `127.0.0.1:${x.port}` })),
    stop: async () => {
      for (const x of nodes) await x.server.shutdown(false);
    },
  };
}

Deno.test("resolver: a followed stream that ends after a while is asked again at once, not after the backoff", async () => {
  let leaderIdx = 0;
  const c = await leaderOnlyCurators(2, () => leaderIdx);
  // A backoff longer than the test: only asking again at once can find the new leader.
  const resolver = new LeaderResolver({
    seeds: c.seeds,
    ca: c.caDer,
    backoff: { initialMs: 60_000, maxMs: 60_000 },
  });
  resolver.start();
  try {
    assert.equal((await resolver.leader(AbortSignal.timeout(10_000))).nodeId, c.nodes[0].id);
    await new Promise((r) => setTimeout(r, FOLLOWED_FOR_RETRY_AT_ONCE_MS + 200));
    // Leadership moves to node 1: every stream ends, as a curator's do when it changes.
    leaderIdx = 1;
    for (const call of c.calls) {
      call.emit("error", { code: grpc.status.UNAVAILABLE, details: "moved" });
    }
    const l = await new Promise<Leader>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no new leader within 10 s")), 10_000);
      const off = resolver.onChange((x) => {
        if (x?.nodeId !== c.nodes[1].id) return;
        clearTimeout(t);
        off();
        resolve(x);
      });
    });
    assert.equal(l.nodeId, c.nodes[1].id);
  } finally {
    await resolver.close();
    await c.stop();
  }
});

Deno.test("resolver: a stream that ends at once is asked again only after the backoff", async () => {
  const c = await leaderOnlyCurators(1, () => 0, true);
  const resolver = new LeaderResolver({
    seeds: c.seeds,
    ca: c.caDer,
    backoff: { initialMs: 300, maxMs: 300 },
  });
  resolver.start();
  try {
    await new Promise((r) => setTimeout(r, 1200));
    // One call, then one after each 300 ms wait: at most 5 in 1.2 s (without the wait, hundreds).
    assert.ok(c.calls.length >= 2 && c.calls.length <= 5, `${c.calls.length} calls`);
  } finally {
    await resolver.close();
    await c.stop();
  }
});

/** Resolves once `lines` (filled by a resolver's log) has a line matching `re`. */
async function logged(lines: string[], re: RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!lines.some((l) => re.test(l))) {
    if (Date.now() > deadline) throw new Error(`no log line ${re} in: ${lines.join(" | ")}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("resolver: a curator port that opens during a long backoff ends the wait at once", async () => {
  // A port that was a curator's and is closed now: its node rebooted.
  const gone = await leaderOnlyCurators(1, () => 0);
  const port = gone.nodes[0].port;
  await gone.stop();
  const lines: string[] = [];
  const resolver = new LeaderResolver({
    seeds: [`127.0.0.1:${port}`],
    ca: gone.caDer,
    // Far longer than the test: only the port watch can end the wait.
    backoff: { initialMs: 60_000, maxMs: 60_000 },
    log: (l) => lines.push(l),
  });
  resolver.start();
  let back: Awaited<ReturnType<typeof leaderOnlyCurators>> | undefined;
  try {
    await logged(lines, /no leader from seeds .*retrying in 60000 ms/);
    back = await leaderOnlyCurators(1, () => 0, false, [port], gone.ca);
    const l = await resolver.leader(AbortSignal.timeout(10_000));
    assert.equal(l.nodeId, back.nodes[0].id);
    assert.ok(
      lines.some((x) => x.includes(`curator port 127.0.0.1:${port} opened`)),
      lines.join("|"),
    );
  } finally {
    await resolver.close();
    await back?.stop();
  }
});

Deno.test("resolver: a port that stays open without a leader does not shorten the backoff", async () => {
  const c = await leaderOnlyCurators(1, () => -1, true);
  const resolver = new LeaderResolver({
    seeds: [`127.0.0.1:${c.nodes[0].port}`],
    ca: c.caDer,
    backoff: { initialMs: PORT_WATCH_MIN_WAIT_MS, maxMs: PORT_WATCH_MIN_WAIT_MS },
  });
  resolver.start();
  try {
    await new Promise((r) => setTimeout(r, PORT_WATCH_MIN_WAIT_MS * 2 - 500));
    // The first call, then one after the first wait: woken by every open probe, it would be ~7.
    assert.equal(c.calls.length, 2);
  } finally {
    await resolver.close();
    await c.stop();
  }
});
