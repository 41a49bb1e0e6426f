/**
 * The Go client processes of `deno task bench heartbeats --client go` (`kubeclient heartbeats`,
 * kubepeer/heartbeats.go). Unlike heartbeat_worker.ts they neither issue nor seed anything: this
 * process issues each node's key and certificate from the bench cluster's CA and seeds the
 * records (simnodes.ts), then hands every client process its nodes on stdin, one JSON line
 * `{"cert","key"}` each (base64 DER certificate and PKCS#8 key, read by Go's x509 parsers), before
 * the first command. Only the cluster CA goes into a file.
 */
import { Buffer } from "node:buffer";
import { Curator } from "../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { exportPkcs8 } from "../../node/base/pki/keys.ts";
import { buildKubeClient } from "./kubepeer/build.ts";
import { goServerFlags } from "./goclient.ts";
import { makeNodes, seed } from "./simnodes.ts";
import { spread, Worker } from "./heartbeat_client.ts";
import { rewatchWindowMs } from "../../node/core/roleserve/rewatch.ts";
import type { BenchServer } from "./server_process.ts";

/** The Heartbeat method's HTTP/2 path. */
const HEARTBEAT_PATH = `/${Curator.typeName}/${Curator.method.heartbeat.name}`;
/** The Watch method's HTTP/2 path. */
const WATCH_PATH = `/${Curator.typeName}/${Curator.method.watch.name}`;

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

/**
 * Issues and seeds `n` nodes of `srv` and starts Go client processes of at most `per` nodes each
 * (pushed to `workers` as they start, so that the caller stops them whatever fails later), each
 * heartbeating every `interval` ms with at most `concurrency` attempts in flight, and with
 * `watch` also watching all nodes as an agent does. The IDs of the nodes, in seeding order.
 */
export async function startGoWorkers(
  srv: BenchServer,
  n: number,
  interval: number,
  per: number,
  concurrency: number,
  workers: Worker[],
  watch = false,
): Promise<string[]> {
  const bin = await buildKubeClient();
  const nodes = await makeNodes(srv, n);
  await seed(srv, nodes);
  const dir = await Deno.makeTempDir({ prefix: "metropolis-heartbeats-" });
  try {
    const server = await goServerFlags(srv.info, dir);
    // BENCH_GO_CPUPROFILE=DIR: each client process writes a CPU profile (pprof) to
    // DIR/heartbeats-<first node>.pprof (`go tool pprof` reads it).
    const profileDir = Deno.env.get("BENCH_GO_CPUPROFILE");
    for (const [first, count] of spread(n, per)) {
      const w = new Worker(bin, [
        "heartbeats",
        ...server,
        "-path",
        HEARTBEAT_PATH,
        "-interval",
        `${interval}ms`,
        "-concurrency",
        String(concurrency),
        // Watching nodes re-watch a new leader as agents do: spread over the agent's window.
        ...(watch ? ["-watch", WATCH_PATH, "-watch-jitter", `${rewatchWindowMs(n)}ms`] : []),
        ...(profileDir ? ["-cpuprofile", `${profileDir}/heartbeats-${first}.pprof`] : []),
      ]);
      workers.push(w);
      const identities = await Promise.all(
        nodes.slice(first, first + count).map(async (s) => ({
          cert: b64(s.certificate),
          key: b64(await exportPkcs8(s.keys.privateKey)),
        })),
      );
      await w.send(...identities);
    }
    // Every process has read the CA by the time it answers a command.
    await Promise.all(workers.map((w) => w.progress()));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return nodes.map((s) => s.id);
}
