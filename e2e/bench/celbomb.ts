/**
 * `deno task bench celbomb` (issue #12): the GetNodes filters that froze a leader, sent while
 * simulated nodes heartbeat it. N nodes (own certificates, records seeded UP, plus `--records`
 * mixed records so filters have work) hold Heartbeat streams to a leader in another process and
 * send every second. After a quiet phase, `--clients` owner clients send, for `--duration`
 * seconds, in turn: the bomb of the issue (100³ and 200³ nested comprehensions), a filter that
 * passes the static estimate but overruns the per-node budget, and the costliest allowed shape
 * (≈ 20,000 units per node over every record, stopped by the per-call budget).
 *
 * Reports per filter the status codes and response times, and the leader's heartbeat health:
 * heartbeat round trips in the quiet and attack phases (max must stay well below the 10 s
 * timeout: target < 1 s) and the nodes HEALTHY at the end (target: all).
 *
 * Options: `--nodes 50` `--records 1000` `--duration 20` `--clients 4` `--quiet 5`.
 */
import { Management } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import { Curator } from "../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { CEL_COSTLY, CEL_HIDDEN_COST, celBomb } from "../../node/core/curator/testing.ts";
import { machine, percentile, progress, report } from "./report.ts";
import { startBenchServer } from "./server_process.ts";
import { countHealthy, makeNodes, seed, type SimNode } from "./simnodes.ts";
import { waitSeededVisible } from "./seed.ts";

/** The attack, in the order each client sends it. */
export const ATTACK: Record<string, string> = {
  "bomb-100": celBomb(100),
  "bomb-200": celBomb(200),
  "hidden-cost": CEL_HIDDEN_COST,
  // Mentioning health keeps the leader from memoizing results between calls (management.ts).
  "costliest-allowed": `${CEL_COSTLY} && node.health != HEALTH_UNKNOWN`,
};

/** Heartbeat round trip the leader must keep under attack (the timeout is 10 s). */
const TARGET_RTT_MS = 1000;
const HEARTBEAT_EVERY_MS = 1000;

function option(args: string[], name: string, def: string): number {
  const i = args.indexOf(`--${name}`);
  const v = Number(i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Runs the bench; `args` as on the command line after the bench name. */
export async function celbomb(args: string[]): Promise<void> {
  const n = option(args, "nodes", "50");
  const records = option(args, "records", "1000");
  const duration = option(args, "duration", "20");
  const clients = option(args, "clients", "4");
  const quiet = option(args, "quiet", "5");
  const m = machine();
  progress(`celbomb: leader with ${records} records, ${n} heartbeating nodes`);
  const srv = await startBenchServer(["--nodes", String(records)]);
  const nodes: SimNode[] = [];
  const timers: ReturnType<typeof setTimeout>[] = [];
  try {
    nodes.push(...await makeNodes(srv, n));
    await seed(srv, nodes);
    await waitSeededVisible(await srv.client(Management, srv.owner), nodes[n - 1].id);
    // Round trips of the phase under way; a heartbeat still unanswered counts at phase end.
    let rtts: number[] = [];
    let streamErrors = 0;
    for (const s of nodes) {
      const cur = await srv.client(Curator, {
        certificate: s.certificate,
        privateKey: s.keys.privateKey,
      });
      const stream = cur.heartbeat();
      s.stream = stream;
      stream.on("data", () => {
        if (s.sentAt !== undefined) rtts.push(performance.now() - s.sentAt);
        s.sentAt = undefined;
      });
      stream.on("error", () => {
        streamErrors++;
        s.stream = undefined;
      });
      const send = () => {
        if (!s.stream || s.sentAt !== undefined) return;
        s.sentAt = performance.now();
        s.stream.write({});
      };
      send();
      // Spread over the interval, as independent nodes would be.
      const start = setTimeout(() => {
        send();
        timers.push(setInterval(send, HEARTBEAT_EVERY_MS));
      }, Math.random() * HEARTBEAT_EVERY_MS);
      timers.push(start);
    }
    const endPhase = () => {
      const now = performance.now();
      const out = [
        ...rtts,
        ...nodes.flatMap((s) => s.sentAt === undefined ? [] : [now - s.sentAt]),
      ];
      rtts = [];
      return out;
    };
    endPhase(); // first round trips include the TLS handshakes
    progress(`celbomb: ${quiet} s quiet`);
    await new Promise((r) => setTimeout(r, quiet * 1000));
    const quietRtts = endPhase();

    progress(`celbomb: ${duration} s of attack from ${clients} clients`);
    const results: Record<string, { codes: Record<string, number>; ms: number[] }> = {};
    for (const name of Object.keys(ATTACK)) results[name] = { codes: {}, ms: [] };
    const end = Date.now() + duration * 1000;
    const cpu0 = srv.cpuSeconds();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, async () => {
      const mgmt = await srv.client(Management, srv.owner);
      while (Date.now() < end) {
        for (const [name, filter] of Object.entries(ATTACK)) {
          const start = performance.now();
          let code = "OK";
          try {
            for await (const _ of mgmt.getNodes({ filter })) { /* drain */ }
          } catch (e) {
            code = String((e as { code?: number }).code ?? "error");
          }
          results[name].ms.push(performance.now() - start);
          results[name].codes[code] = (results[name].codes[code] ?? 0) + 1;
        }
      }
    }));
    const attackS = (performance.now() - t0) / 1000;
    const cpuPct = (srv.cpuSeconds() - cpu0) / attackS * 100;
    const attackRtts = endPhase();
    const healthy = await countHealthy(srv, new Set(nodes.map((s) => s.id)));

    for (const [name, r] of Object.entries(results)) {
      report({
        bench: `celbomb/${name}`,
        value: percentile(r.ms, 99),
        unit: "ms p99 to status",
        target: "report",
        runs: r.ms.length,
        extra: {
          p50: round2(percentile(r.ms, 50)),
          codes: Object.entries(r.codes).map(([c, k]) => `${c}:${k}`).join(","),
          filterChars: ATTACK[name].length,
        },
      }, m);
    }
    const maxAttack = Math.max(...attackRtts);
    report({
      bench: `celbomb/heartbeat-rtt`,
      value: maxAttack,
      unit: "ms max under attack",
      target: `< ${TARGET_RTT_MS}`,
      runs: attackRtts.length,
      ok: maxAttack < TARGET_RTT_MS,
      extra: {
        p50: round2(percentile(attackRtts, 50)),
        p99: round2(percentile(attackRtts, 99)),
        quietP50: round2(percentile(quietRtts, 50)),
        quietP99: round2(percentile(quietRtts, 99)),
        quietMax: round2(Math.max(...quietRtts)),
        leaderCpuPct: Math.round(cpuPct),
        streamErrors,
      },
    }, m);
    report({
      bench: `celbomb/healthy`,
      value: healthy,
      unit: "nodes HEALTHY after the attack",
      target: `== ${n}`,
      runs: 1,
      ok: healthy === n,
      extra: { leaderRssMiB: Math.round(srv.rssMiB()) },
    }, m);
  } finally {
    for (const t of timers) clearTimeout(t); // also clears intervals
    for (const s of nodes) s.stream?.end();
    await srv.stop();
  }
}
