/**
 * `deno task bench heartbeats` (testing.md §5): N nodes with distinct node certificates (issued
 * here from the cluster CA, records seeded UP) each hold a Heartbeat stream over their own TLS
 * connection to a leader in another process and send every 5 s. Measures the leader's CPU
 * (utime+stime from /proc over wall time, % of one core) during the steady phase, heartbeat
 * round-trip p50/p99, the leader's VmRSS, and that all N are HEALTHY at the end.
 * Target: 5,000 nodes, leader < 50 % of one core.
 *
 * Options: `--nodes 1000,5000` `--duration 60` (seconds of steady phase) `--interval 5`.
 */
import { Etcd3 } from "etcd3";
import { Management } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import { Curator } from "../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { KV } from "../../node/core/consensus/kv.ts";
import { generateEd25519, rawPublicKey } from "../../node/base/pki/keys.ts";
import { issueCertificate } from "../../node/base/pki/cert.ts";
import { nodeTemplate } from "../../node/core/identity/profiles.ts";
import { nodeId } from "../../node/core/identity/nodeid.ts";
import { machine, percentile, progress, report } from "./report.ts";
import { type BenchServer, startBenchServer } from "./server_process.ts";
import { benchRecord, seedRecords, waitSeededVisible } from "./seed.ts";

const TARGET_CPU = 50;
/** Connections opened at once while ramping up (TLS handshakes are CPU-bound on both sides). */
const RAMP_CONCURRENCY = 50;

function option(args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
}

function positiveNumbers(s: string, name: string): number[] {
  const xs = s.split(",").map(Number);
  if (!xs.length || xs.some((x) => !Number.isFinite(x) || x <= 0)) {
    throw new Error(`--${name} must be positive numbers separated by commas, got "${s}"`);
  }
  return xs;
}

/** Soft limit of open files of this process (/proc/self/limits). */
function fdLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(Deno.readTextFileSync("/proc/self/limits"));
  return !m || m[1] === "unlimited" ? Infinity : Number(m[1]);
}

/** One simulated node: identity, its stream, and the send time of the unanswered heartbeat. */
export interface SimNode {
  id: string;
  keys: CryptoKeyPair;
  certificate: Uint8Array;
  stream?: { write(m: object): boolean; end(): void };
  sentAt?: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** `n` simulated nodes with keys and node certificates issued from the bench cluster's CA. */
export async function makeNodes(srv: BenchServer, n: number): Promise<SimNode[]> {
  const signer = { certificate: srv.ca, privateKey: srv.caKey };
  const out: SimNode[] = [];
  for (let i = 0; i < n; i++) {
    const keys = await generateEd25519();
    const id = nodeId(await rawPublicKey(keys.publicKey));
    out.push({
      id,
      keys,
      certificate: await issueCertificate(nodeTemplate(id), keys.publicKey, signer),
    });
    if ((i + 1) % 1000 === 0) progress(`heartbeats: issued ${i + 1}/${n} node certificates`);
  }
  return out;
}

/** Seeds an UP record for each of `nodes` (their certificates are then accepted). */
export async function seed(srv: BenchServer, nodes: SimNode[]): Promise<void> {
  const etcd = new Etcd3({ hosts: srv.info.etcd });
  try {
    const records = await Promise.all(
      nodes.map(async (s, i) => benchRecord(i, await rawPublicKey(s.keys.publicKey), false)),
    );
    await seedRecords(new KV(etcd, "curator/"), records);
  } finally {
    etcd.close();
  }
}

/** How many of `ids` the leader reports HEALTHY. */
export async function countHealthy(srv: BenchServer, ids: Set<string>): Promise<number> {
  const mgmt = await srv.client(Management, srv.owner);
  let healthy = 0;
  for await (const n of mgmt.getNodes({ filter: "node.health == HEALTH_HEALTHY" })) {
    if (ids.has(n.id)) healthy++;
  }
  return healthy;
}

/** Runs the bench; `args` as on the command line after the bench name. */
export async function heartbeats(args: string[]): Promise<void> {
  const sizes = positiveNumbers(option(args, "nodes", "1000,5000"), "nodes").map(Math.floor);
  const duration = positiveNumbers(option(args, "duration", "60"), "duration")[0];
  const interval = positiveNumbers(option(args, "interval", "5"), "interval")[0] * 1000;
  const m = machine();
  for (const n of sizes) {
    // Each node holds one connection here and one in the leader, plus grpc-js/Deno overhead.
    if (fdLimit() < n + 200) {
      throw new Error(`open-file limit ${fdLimit()} is too low for ${n} nodes (ulimit -n)`);
    }
    progress(`heartbeats: ${n} nodes, ${duration} s at ${interval / 1000} s intervals`);
    const srv = await startBenchServer();
    const nodes: SimNode[] = [];
    try {
      nodes.push(...await makeNodes(srv, n));
      await seed(srv, nodes);
      await waitSeededVisible(await srv.client(Management, srv.owner), nodes[nodes.length - 1].id);
      progress(`heartbeats: ${n} records seeded; opening ${n} TLS connections`);
      const rtts: number[] = [];
      let errors = 0;
      let lastError = "";
      const send = (s: SimNode) => {
        if (!s.stream || s.sentAt !== undefined) return; // previous one unanswered: skip
        s.sentAt = performance.now();
        s.stream.write({});
      };
      const rampStart = performance.now();
      let opened = 0;
      const open = async (s: SimNode) => {
        const cur = await srv.client(Curator, {
          certificate: s.certificate,
          privateKey: s.keys.privateKey,
        });
        const stream = cur.heartbeat();
        s.stream = stream;
        const first = Promise.withResolvers<void>();
        stream.on("data", () => {
          if (s.sentAt !== undefined) rtts.push(performance.now() - s.sentAt);
          s.sentAt = undefined;
          first.resolve();
        });
        stream.on("error", (e: Error) => {
          errors++;
          lastError = e.message;
          s.stream = undefined;
          first.reject(e);
        });
        send(s);
        await first.promise;
        if (++opened % 1000 === 0) progress(`heartbeats: ${opened}/${n} streams up`);
      };
      for (let i = 0; i < nodes.length; i += RAMP_CONCURRENCY) {
        await Promise.all(nodes.slice(i, i + RAMP_CONCURRENCY).map(open));
      }
      const rampMs = performance.now() - rampStart;
      progress(`heartbeats: ${n} streams up in ${(rampMs / 1000).toFixed(1)} s; steady phase`);
      rtts.length = 0; // ramp-up round trips include handshakes: not steady state
      for (const s of nodes) {
        // Spread the nodes evenly over the interval, as independent nodes would be.
        s.timer = setTimeout(() => {
          send(s);
          s.timer = setInterval(() => send(s), interval);
        }, Math.random() * interval);
      }
      const cpu0 = srv.cpuSeconds();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, duration * 1000));
      const cpu1 = srv.cpuSeconds();
      const wall = (performance.now() - t0) / 1000;
      const cpuPct = (cpu1 - cpu0) / wall * 100;
      const rss = srv.rssMiB();
      const healthy = await countHealthy(srv, new Set(nodes.map((s) => s.id)));
      const extra = {
        nodes: n,
        durationS: duration,
        rttP50Ms: Math.round(percentile(rtts, 50) * 100) / 100,
        rttP99Ms: Math.round(percentile(rtts, 99) * 100) / 100,
        heartbeats: rtts.length,
        healthy,
        rssMiB: Math.round(rss),
        streamErrors: errors,
        rampS: Math.round(rampMs / 100) / 10,
        ...(lastError ? { lastError } : {}),
      };
      const atTarget = n >= 5000;
      report({
        bench: `heartbeats/${n}/leader-cpu`,
        value: cpuPct,
        unit: "% of one core",
        target: atTarget ? `< ${TARGET_CPU}` : "report",
        runs: 1,
        ok: atTarget ? cpuPct < TARGET_CPU : undefined,
        extra,
      }, m);
      report({
        bench: `heartbeats/${n}/rtt`,
        value: percentile(rtts, 99),
        unit: "ms p99",
        target: "report",
        runs: rtts.length,
        extra: { p50: extra.rttP50Ms, nodes: n },
      }, m);
      report({
        bench: `heartbeats/${n}/healthy`,
        value: healthy,
        unit: "nodes HEALTHY",
        target: `== ${n}`,
        runs: 1,
        ok: healthy === n,
      }, m);
      report({
        bench: `heartbeats/${n}/leader-rss`,
        value: rss,
        unit: "MiB VmRSS",
        target: "report",
        runs: 1,
        extra: { nodes: n },
      }, m);
    } finally {
      for (const s of nodes) {
        clearTimeout(s.timer);
        clearInterval(s.timer);
        s.stream?.end();
      }
      await srv.stop();
    }
  }
}
