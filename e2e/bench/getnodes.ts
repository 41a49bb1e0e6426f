/**
 * `deno task bench getnodes` (testing.md §5, issue #16 item 1): GetNodes latency to the end of
 * the stream with 1,000 and 10,000 seeded node records, `--calls` calls per filter, from this
 * process to a leader in another process, as the owner; side by side, in the same run, LIST nodes
 * of the project's kube-apiserver on its own etcd with as many Nodes shaped like ours
 * (kubepeer.ts) and the equivalent label selector.
 *
 * Both sides are read by the same client: a Go net/http HTTP/2 client (kubepeer/main.go,
 * client-go's transport without client-go's decoding) that reads each response body whole and
 * does not decode it. A client in this process would spend its CPU (Deno's HTTP/2 and grpc-js's
 * per-message handling) on the same cores as the leader and make ours the slower client.
 *
 * Per filter and size, interleaved so that all see the same machine load:
 * - ours (the headline): `kubeclient grpc-stream`, N calls over one HTTP/2 connection, the gRPC
 *   messages counted by their prefixes; the leader's CPU per call is measured over these calls;
 * - ours, `/grpc-js` (report only): the project's grpc-js client with an identity deserializer;
 * - ours, `/decoded` (report only): the generated client decoding every Node, as metroctl does;
 * - peer: `GET /api/v1/nodes[?labelSelector=…]` with `Accept: application/vnd.kubernetes.protobuf`,
 *   once as a consistent LIST (kubectl's; on etcd 3.4 the apiserver reads it from etcd) and once
 *   with `resourceVersion=0` (from the watch cache, as informers list); the faster of the two is
 *   the peer of the ratio. The heartbeat filter has no server-side equivalent in Kubernetes (no
 *   field selector on conditions): its peer is the unfiltered LIST a client would have to filter
 *   itself.
 *
 * Target: our p99 ≤ 100 ms for every filter at 10,000 nodes, and ≤ the peer's p99.
 *
 * Also reported, without a peer: the leader's CPU per all-nodes Watch backlog (`watch/<size>/
 * backlog`), which every node's agent reads from each new leader.
 *
 * Options: `--sizes 1000,10000` `--calls 100` `--no-peer`.
 */
import type * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  GetNodesRequestSchema,
  Management,
} from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import { machine, percentile, progress, report, round as r2 } from "./report.ts";
import { type BenchServer, startBenchServer } from "./server_process.ts";
import {
  Curator,
  WatchEvent_Progress,
} from "../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { kubeNode, type KubePeer, startKubePeer, UP_WORKER_SELECTOR } from "./kubepeer.ts";
import { benchRecord, randomPublicKeys } from "./seed.ts";
import { goGrpcClient } from "./goclient.ts";

/** The filters of testing.md §5 and the peer's equivalent LIST query ("" = none). */
export const FILTERS: Record<string, { filter: string; peerQuery: string }> = {
  empty: { filter: "", peerQuery: "" },
  "up-worker": {
    filter: "node.state == NODE_STATE_UP && has(node.roles.kubernetes_worker)",
    peerQuery: `labelSelector=${encodeURIComponent(UP_WORKER_SELECTOR)}`,
  },
  heartbeat: { filter: "node.time_since_heartbeat < duration('6s')", peerQuery: "" },
};

const TARGET_MS = 100;
const GET_NODES = "/metropolis.proto.api.Management/GetNodes";
/** The client of the headline rows, ours and the peer's. */
const GO_CLIENT = "Go net/http HTTP/2 (kubepeer/main.go), not decoded";

function option(args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
}

function positiveInts(s: string, name: string): number[] {
  const xs = s.split(",").map(Number);
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x <= 0)) {
    throw new Error(`--${name} must be positive integers separated by commas, got "${s}"`);
  }
  return xs;
}

/** One GetNodes call (encoded request `req`) read to the end by grpc-js without decoding. */
function rawGetNodes(client: grpc.Client, req: Uint8Array): Promise<{ n: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    let n = 0, bytes = 0;
    const call = client.makeServerStreamRequest(
      GET_NODES,
      () => Buffer.from(req),
      (b: Buffer) => b,
      req,
    );
    call.on("data", (b: Buffer) => {
      n++;
      bytes += b.length;
    });
    call.on("error", reject);
    call.on("end", () => resolve({ n, bytes }));
  });
}

/**
 * Every node's agent watches all nodes (`Curator.Watch(nodes_in_cluster)`: hosts file, cluster
 * networking, resolver seeds), so a new leader sends the whole node list to every node at once.
 * Report only: the leader's CPU per backlog of `size` nodes (read by grpc-js in this process until
 * the LAST_BACKLOGGED event, decoded).
 */
async function watchBacklog(
  srv: BenchServer,
  size: number,
  calls: number,
  m: ReturnType<typeof machine>,
): Promise<void> {
  const cur = await srv.client(Curator, srv.owner);
  const backlog = async () => {
    const ac = new AbortController();
    const start = performance.now();
    let n = 0;
    try {
      const req = { kind: { case: "nodesInCluster" as const, value: {} } };
      for await (const ev of cur.watch(req, { signal: ac.signal })) {
        n += ev.nodes.length;
        if (ev.progress === WatchEvent_Progress.LAST_BACKLOGGED) break;
      }
    } finally {
      ac.abort();
    }
    return { n, ms: performance.now() - start };
  };
  await backlog();
  const cpu0 = srv.cpuSeconds();
  const ms: number[] = [];
  let nodes = 0;
  for (let i = 0; i < calls; i++) {
    const r = await backlog();
    ms.push(r.ms);
    nodes = r.n;
  }
  const leaderCpuMs = (srv.cpuSeconds() - cpu0) * 1000 / calls;
  report({
    bench: `watch/${size}/backlog`,
    value: r2(leaderCpuMs),
    unit: "ms leader CPU per backlog",
    target: "report",
    runs: calls,
    extra: {
      nodes,
      p50Ms: r2(percentile(ms, 50)),
      p99Ms: r2(percentile(ms, 99)),
      client: "generated client in the bench process, decoded",
    },
  }, m);
}

/** Seeds `size` Nodes shaped like the curator's mixed bench records into the peer. */
async function seedPeer(peer: KubePeer, size: number): Promise<void> {
  const now = new Date();
  const lines = randomPublicKeys(size).map((k, i) =>
    JSON.stringify(kubeNode(benchRecord(i, k, true), now))
  );
  const r = await peer.client("create", ["-path", "/api/v1/nodes", "-c", "32"], lines.join("\n"));
  progress(`getnodes: peer seeded with ${r.created} Nodes in ${r.ms} ms`);
}

/** Runs the bench; `args` as on the command line after the bench name. */
export async function getnodes(args: string[]): Promise<void> {
  const sizes = positiveInts(option(args, "sizes", "1000,10000"), "sizes");
  const calls = positiveInts(option(args, "calls", "100"), "calls")[0];
  const withPeer = !args.includes("--no-peer");
  const m = machine();
  for (const size of sizes) {
    progress(`getnodes: starting a curator with ${size} seeded records`);
    const srv = await startBenchServer(["--nodes", String(size)]);
    let peer: KubePeer | undefined;
    const go = await goGrpcClient(srv.info);
    try {
      const mgmt = await srv.client(Management, srv.owner);
      const raw = mgmt.$client as grpc.Client;
      if (withPeer) {
        progress(`getnodes: starting the kube-apiserver peer with ${size} Nodes`);
        peer = await startKubePeer();
        await seedPeer(peer, size);
      }
      for (const [name, { filter, peerQuery }] of Object.entries(FILTERS)) {
        const request = toBinary(GetNodesRequestSchema, create(GetNodesRequestSchema, { filter }));
        const decoded = async () => {
          const start = performance.now();
          let n = 0;
          for await (const _ of mgmt.getNodes({ filter })) n++;
          return { ms: performance.now() - start, n };
        };
        const undecoded = async () => {
          const start = performance.now();
          const r = await rawGetNodes(raw, request);
          return { ms: performance.now() - start, ...r };
        };
        // The first call of a filter is cold (JIT, leader's per-record caches): reported apart.
        const first = await undecoded();
        for (let i = 0; i < 2; i++) await decoded();
        await go.stream(GET_NODES, request, 2);
        // CPU time of the leader per call: unlike latency, insensitive to other load.
        let cpu0 = srv.cpuSeconds();
        const ours = await go.stream(GET_NODES, request, calls);
        const leaderCpuMs = (srv.cpuSeconds() - cpu0) * 1000 / calls;
        const ms = ours.ms;
        const msGrpcJs: number[] = [];
        let matched = 0, bytes = 0;
        cpu0 = srv.cpuSeconds();
        for (let i = 0; i < calls; i++) {
          const r = await undecoded();
          msGrpcJs.push(r.ms);
          matched = r.n;
          bytes = r.bytes;
        }
        const leaderCpuMsGrpcJs = (srv.cpuSeconds() - cpu0) * 1000 / calls;
        if (ours.messages !== matched) {
          throw new Error(
            `getnodes ${name}: the Go client counted ${ours.messages} Nodes, grpc-js ${matched}`,
          );
        }
        const msDecoded: number[] = [];
        for (let i = 0; i < calls; i++) msDecoded.push((await decoded()).ms);
        const p99 = percentile(ms, 99);
        let peerP99: number | undefined;
        const peerResults: { kind: string; p99: number; extra: Record<string, unknown> }[] = [];
        if (peer) {
          // Default LIST (a consistent read, as kubectl does; from etcd on etcd 3.4) and
          // resourceVersion=0 (the watch cache, as informers list): the faster one is the peer.
          for (
            const [kind, q] of [["", peerQuery], [
              "cache",
              [peerQuery, "resourceVersion=0"]
                .filter(Boolean).join("&"),
            ]] as const
          ) {
            const path = `/api/v1/nodes${q ? `?${q}` : ""}`;
            await peer.client("list", ["-path", path, "-n", "2"]); // warm-up
            const c0 = peer.cpuSeconds();
            const r = await peer.client("list", ["-path", path, "-n", String(calls)]);
            const c1 = peer.cpuSeconds();
            const pms = r.ms as number[];
            const p = percentile(pms, 99);
            const extra = {
              p50: r2(percentile(pms, 50)),
              max: r2(Math.max(...pms)),
              bytes: r.bytes,
              query: q || "(none)",
              apiserverCpuMsPerCall: r2((c1.apiserver - c0.apiserver) * 1000 / calls),
              etcdCpuMsPerCall: r2((c1.etcd - c0.etcd) * 1000 / calls),
            };
            peerResults.push({ kind, p99: p, extra });
            if (peerP99 === undefined || p < peerP99) peerP99 = p;
          }
        }
        const atTarget = size >= 10_000;
        const ok = atTarget
          ? p99 <= TARGET_MS && (peerP99 === undefined || p99 <= peerP99)
          : undefined;
        report({
          bench: `getnodes/${size}/${name}`,
          value: p99,
          unit: "ms p99",
          target: atTarget ? `<= ${TARGET_MS} and <= peer` : "report",
          runs: calls,
          ok,
          extra: {
            p50: r2(percentile(ms, 50)),
            max: r2(Math.max(...ms)),
            leaderCpuMsPerCall: r2(leaderCpuMs),
            nodes: srv.info.seeded + 1,
            matched: ours.messages,
            bytes: ours.bytes,
            filter,
            client: GO_CLIENT,
          },
          peer: peerP99,
        }, m);
        report({
          bench: `getnodes/${size}/${name}/grpc-js`,
          value: percentile(msGrpcJs, 99),
          unit: "ms p99",
          target: "report",
          runs: calls,
          extra: {
            p50: r2(percentile(msGrpcJs, 50)),
            max: r2(Math.max(...msGrpcJs)),
            firstMs: r2(first.ms),
            leaderCpuMsPerCall: r2(leaderCpuMsGrpcJs),
            bytes,
            client: "grpc-js in the bench process, not decoded",
          },
        }, m);
        report({
          bench: `getnodes/${size}/${name}/decoded`,
          value: percentile(msDecoded, 99),
          unit: "ms p99",
          target: "report",
          runs: calls,
          extra: { p50: r2(percentile(msDecoded, 50)), client: "generated client, decoded" },
        }, m);
        for (const pr of peerResults) {
          report({
            bench: `getnodes/${size}/${name}/peer${pr.kind ? `-${pr.kind}` : ""}`,
            value: pr.p99,
            unit: "ms p99",
            target: "report",
            runs: calls,
            extra: { ...pr.extra, client: `${GO_CLIENT}, protobuf` },
          }, m);
        }
      }
      await watchBacklog(srv, size, calls, m);
    } finally {
      await peer?.stop();
      await go.close();
      await srv.stop();
    }
  }
}
