/**
 * `deno task bench flood [--connections C] [--streams N] [--seconds S]`: the unauthenticated
 * stream flood of issue 12 against a bench curator leader on loopback. C raw HTTP/2 connections
 * without a client certificate open `CuratorLocal.GetCurrentLeader` streams as fast as they can,
 * ignoring SETTINGS_MAX_CONCURRENT_STREAMS and reconnecting when the server drops them, until N
 * streams were opened in total or S seconds passed. The leader's VmRSS is sampled every 250 ms;
 * at the end an owner call checks that the leader still serves. Reports the RSS growth (target:
 * bounded, ≤ 256 MiB over the idle leader; unbounded it reached 623 MB of heap for 60,000 streams).
 */
import { Management } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import { RawH2 } from "../../node/core/rpc/rawh2.ts";
import { startBenchServer } from "./server_process.ts";
import { machine, report } from "./report.ts";

const GET_CURRENT_LEADER = "/metropolis.node.core.curator.proto.api.CuratorLocal/GetCurrentLeader";
/** Streams opened per connection before yielding to the event loop. */
const BATCH = 200;
const TARGET_GROWTH_MIB = 256;

function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : def;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

/** Runs the flood bench; see the module comment. */
export async function flood(args: string[]): Promise<void> {
  const connections = arg(args, "connections", 8);
  const total = arg(args, "streams", 60_000);
  const seconds = arg(args, "seconds", 20);
  const m = machine();
  const server = await startBenchServer();
  try {
    const [host, port] = [
      server.info.target.split(":")[0],
      Number(server.info.target.split(":")[1]),
    ];
    const baseline = server.rssMiB();
    let peak = baseline;
    const sampler = setInterval(() => peak = Math.max(peak, server.rssMiB()), 250);
    let opened = 0;
    let answered = 0;
    let dropped = 0;
    let refusedConnects = 0;
    const deadline = Date.now() + seconds * 1000;
    const attacker = async () => {
      while (opened < total && Date.now() < deadline) {
        let h: RawH2;
        try {
          h = await RawH2.connect({ host, port });
        } catch {
          refusedConnects++;
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        let open = true;
        h.closed.then(() => open = false);
        while (open && opened < total && Date.now() < deadline) {
          for (let i = 0; i < BATCH && opened < total; i++, opened++) h.call(GET_CURRENT_LEADER);
          await new Promise((r) => setTimeout(r, 10));
        }
        answered += h.answered.size;
        if (!open) dropped++;
        // Keep what the server granted open until the end, like an attacker holding resources.
        if (open) await Promise.race([h.closed, sleepUntil(deadline)]);
        h.close();
      }
    };
    console.error(`flood: ${connections} connections, up to ${total} streams, ${seconds} s`);
    await Promise.all(Array.from({ length: connections }, attacker));
    peak = Math.max(peak, server.rssMiB());
    clearInterval(sampler);
    const mgmt = await server.client(Management, server.owner);
    const t0 = performance.now();
    let ownerCall = "ok";
    try {
      await mgmt.getClusterInfo({}, { deadline: Date.now() + 10_000 });
    } catch (e) {
      ownerCall = `failed: ${(e as Error).message}`;
    }
    const growth = peak - baseline;
    report({
      bench: "flood_rss_growth",
      value: growth,
      unit: "MiB",
      target: `<= ${TARGET_GROWTH_MIB}`,
      runs: 1,
      ok: growth <= TARGET_GROWTH_MIB && ownerCall === "ok",
      extra: {
        baselineMiB: Math.round(baseline),
        peakMiB: Math.round(peak),
        streamsOpened: opened,
        streamsAnswered: answered,
        connectionsDropped: dropped,
        connectsRefused: refusedConnects,
        ownerCall,
        ownerCallMs: Math.round(performance.now() - t0),
      },
    }, m);
  } finally {
    await server.stop();
  }
}

function sleepUntil(t: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
}
