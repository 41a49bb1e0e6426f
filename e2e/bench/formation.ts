/**
 * `deno task bench formation [--runs N] [--nodes N] [--floor-runs N] [--subnet CIDR]` (testing.md §5, issue #16
 * item 3): `launchCluster` with fresh namespace nodes, launcher start → all UP and HEALTHY (via
 * GetNodes), median of N runs (5), and where the time goes. Agent memory is the `rss` bench.
 *
 * A stale agent bundle is rebuilt before the clock starts (building is not formation). Besides
 * the total, `fromNode0S` is the median from node 0's start (without the switch set-up).
 *
 * Timeline sources, all clocked by this process from the launcher's start:
 * - `launcher:` the launcher's own steps ({@link PhaseHook} of cluster.ts);
 * - `nI:` the first appearance of a marker line in node I's console (tailed every 50 ms; the
 *   console has no timestamps of its own);
 * - `api:` GetNodes as the owner every 100 ms from the escrow on: first sighting of each node
 *   NEW / STANDBY (approved) / UP (committed) / HEALTHY; the first heartbeat is back-dated by the
 *   node's time_since_heartbeat.
 *
 * Each event prints as one `formation phase:` line with its median time and the median step from
 * the event before it. The lower bound, measured in the same run: three etcd members with peer TLS
 * formed by a script without agents (etcd_floor.ts), median of `--floor-runs` (5).
 */
import { type Cluster, launchCluster } from "../launch/cluster.ts";
import { listNodes } from "../launch/bringup.ts";
import { resolveOptions } from "../launch/options.ts";
import { NODE_NUMBER_LABEL } from "../launch/params.ts";
import { Management, Node_Health } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import type { ServiceClient } from "../../proto/grpc.ts";
import { NodeState } from "../../proto/gen/metropolis/proto/common/common_pb.ts";
import { etcdFloor } from "./etcd_floor.ts";
import { ensureAgentBundle } from "../../os-image/tools/bundle.ts";
import { median, progress, report } from "./report.ts";

function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Console markers: first line matching → event name (prefixed `nI:`). */
const MARKERS: [RegExp, string][] = [
  [/agent starting/, "agent starting"],
  [/leased \S+ from/, "DHCP lease"],
  [/node parameters from/, "parameters read"],
  [/bootstrapping etcd/, "etcd bootstrap start"],
  [/etcd bootstrapped; restarting/, "etcd bootstrapped, restart from data"],
  [/elected leader/, "etcd leader"],
  [/now the curator leader/, "curator leader"],
  [/resolver: leader is/, "resolver found the leader"],
  [/registering into the cluster/, "register sent"],
  [/registered; TPM/, "registered"],
  [/Cluster enrolment done/, "enrolment done (committed)"],
  [/status pushed/, "status pushed"],
];

/** Tails node consoles and stamps the first appearance of each marker. */
class ConsoleTail {
  #stop = false;
  readonly #done: Promise<void>;

  constructor(paths: string[], mark: (name: string) => void) {
    this.#done = Promise.all(paths.map((p, i) => this.#tail(p, i, mark))).then(() => {});
  }

  async #tail(path: string, i: number, mark: (name: string) => void) {
    let offset = 0;
    let rest = "";
    const seen = new Set<string>();
    const dec = new TextDecoder();
    while (!this.#stop) {
      try {
        const f = await Deno.open(path);
        try {
          await f.seek(offset, Deno.SeekMode.Start);
          const buf = new Uint8Array(1 << 16);
          for (;;) {
            const n = await f.read(buf);
            if (!n) break;
            offset += n;
            rest += dec.decode(buf.subarray(0, n), { stream: true });
          }
        } finally {
          f.close();
        }
        const lines = rest.split("\n");
        rest = lines.pop()!;
        for (const l of lines) {
          for (const [re, name] of MARKERS) {
            if (!seen.has(name) && re.test(l)) {
              seen.add(name);
              mark(`n${i}: ${name}`);
            }
          }
        }
      } catch { /* not there yet */ }
      await sleep(50);
    }
  }

  async stop() {
    this.#stop = true;
    await this.#done;
  }
}

/** Polls GetNodes and stamps each node's first NEW / STANDBY / UP / heartbeat / HEALTHY. */
class ApiWatch {
  #stop = false;
  #done?: Promise<void>;

  start(c: Cluster, t0: number, mark: (name: string, at?: number) => void) {
    const seen = new Set<string>();
    const once = (name: string, at?: number) => {
      if (seen.has(name)) return;
      seen.add(name);
      mark(name, at);
    };
    this.#done = (async () => {
      // One client for the whole watch, dialled again after an error: a new TLS connection per
      // read (ClusterAPI.nodes) every 100 ms cost node 0's curator CPU the formation it measures
      // needs.
      let m: ServiceClient<typeof Management.method> | undefined;
      while (!this.#stop) {
        try {
          m ??= await c.api!.client(Management);
          const nodes = await listNodes(m);
          const now = performance.now();
          for (const n of nodes) {
            const num = n.labels?.pairs.find((p) => p.key === NODE_NUMBER_LABEL)?.value ?? "?";
            const who = `api: n${num}`;
            if (n.state === NodeState.NEW) once(`${who} NEW (registered)`);
            if (n.state === NodeState.STANDBY) once(`${who} STANDBY (approved)`);
            if (n.state === NodeState.UP) once(`${who} UP (committed)`);
            const since = n.timeSinceHeartbeat;
            const ageMs = since ? Number(since.seconds) * 1000 + since.nanos / 1e6 : Infinity;
            if (ageMs < 60_000) once(`${who} first heartbeat`, Math.max(0, now - ageMs - t0));
            if (n.health === Node_Health.HEALTHY) once(`${who} HEALTHY`);
          }
          if (
            nodes.length === c.nodes.length &&
            nodes.every((n) => n.state === NodeState.UP && n.health === Node_Health.HEALTHY)
          ) once("api: all UP and HEALTHY");
        } catch {
          // Leader moving or API not serving yet.
          m?.close();
          m = undefined;
        }
        await sleep(100);
      }
      m?.close();
    })();
  }

  async stop() {
    this.#stop = true;
    await this.#done;
  }
}

/** One launch with its timeline (event → ms since the launcher's start). */
async function timedLaunch(
  nodes: number,
  subnet: string,
): Promise<{ totalS: number; events: Map<string, number> }> {
  const events = new Map<string, number>();
  // A bundle made stale by source edits is rebuilt before the clock starts: building is not
  // formation (the launcher still checks it inside the timed part).
  await ensureAgentBundle();
  const t0 = performance.now();
  const mark = (name: string, at = performance.now() - t0) => {
    if (!events.has(name)) events.set(name, at);
  };
  let tail: ConsoleTail | undefined;
  const watch = new ApiWatch();
  let c: Cluster | undefined;
  try {
    c = await launchCluster(
      resolveOptions({
        "num-nodes": nodes,
        "tpm-mode": "disabled",
        subnet,
        tpm: "none",
      }),
      (phase, cl) => {
        mark(`launcher: ${phase}`);
        if (phase === "switch ready") {
          tail = new ConsoleTail(cl.nodes.map((n) => n.consolePath), mark);
        }
        if (phase === "owner escrowed") watch.start(cl, t0, mark);
      },
    );
    const totalS = (events.get("launcher: all UP and HEALTHY") ?? performance.now() - t0) / 1000;
    // Let the watch see the end state if the launcher's 1 s poll got there first.
    const until = Date.now() + 1500;
    while (!events.has("api: all UP and HEALTHY") && Date.now() < until) await sleep(50);
    return { totalS, events };
  } finally {
    await watch.stop();
    await tail?.stop();
    await c?.close();
  }
}

/** The formation benchmark. */
export async function formation(args: string[]): Promise<void> {
  const runs = arg(args, "runs", 5);
  const nodes = arg(args, "nodes", 3);
  const floorRuns = arg(args, "floor-runs", 5);
  const si = args.indexOf("--subnet");
  const subnet = si >= 0 ? args[si + 1] : "10.1.45.0/24";
  const times: number[] = [];
  const timelines: Map<string, number>[] = [];
  const floors: number[] = [];
  for (let r = 0; r < runs; r++) {
    const { totalS, events } = await timedLaunch(nodes, subnet);
    times.push(totalS);
    timelines.push(events);
    console.error(`formation: run ${r + 1}/${runs}: ${totalS.toFixed(1)} s`);
  }
  for (let r = 0; r < floorRuns; r++) {
    const f = await etcdFloor(3);
    floors.push(f.allReadyMs / 1000);
    progress(`etcd floor ${r + 1}/${floorRuns}: ${(f.allReadyMs / 1000).toFixed(2)} s`);
  }
  // Median time of each event over the runs that saw it, in order.
  const names = new Set(timelines.flatMap((t) => [...t.keys()]));
  const rows = [...names].map((name) => {
    const ts = timelines.map((t) => t.get(name)).filter((x): x is number => x !== undefined);
    return { name, ms: median(ts), seen: ts.length };
  }).sort((a, b) => a.ms - b.ms);
  let prev = 0;
  for (const row of rows) {
    console.log(
      `formation phase: ${(row.ms / 1000).toFixed(2).padStart(6)} s  (+${
        ((row.ms - prev) / 1000).toFixed(2)
      })  ${row.name}${row.seen < runs ? ` [${row.seen}/${runs} runs]` : ""}`,
    );
    prev = row.ms;
  }
  const m = median(times);
  const floor = median(floors);
  // From node 0's start: what the nodes and the bring-up take, without the switch set-up.
  const fromNode0 = timelines.map((t) =>
    ((t.get("launcher: all UP and HEALTHY") ?? NaN) - (t.get("launcher: node 0 started") ?? NaN)) /
    1000
  ).filter((x) => !Number.isNaN(x));
  report({
    bench: "formation",
    value: m,
    unit: "s",
    target: "<= 5",
    runs,
    extra: {
      runsS: times.map((t) => t.toFixed(1)).join("/"),
      minS: Math.min(...times).toFixed(1),
      maxS: Math.max(...times).toFixed(1),
      fromNode0S: fromNode0.length ? median(fromNode0).toFixed(2) : "-",
      nodes,
      etcdFloorS: Math.round(floor * 100) / 100,
    },
    ok: m <= 5,
  });
  report({
    bench: "formation-etcd-floor",
    value: floor,
    unit: "s",
    target: "report",
    runs: floorRuns,
    extra: {
      runsS: floors.map((t) => t.toFixed(2)).join("/"),
      minS: Math.min(...floors).toFixed(2),
      members: 3,
      peerTLS: true,
    },
  });
}
