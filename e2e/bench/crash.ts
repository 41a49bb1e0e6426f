/**
 * `deno task bench crash [--rounds N] [--nodes N] [--subnet CIDR] [--planned]` (issue #16 item 2,
 * the failover with real agents): a namespace cluster of `--nodes` (4) agents, nodes 1 and 2 made
 * ConsensusMembers, then N rounds (5) of: let it settle, SIGKILL the node whose curator leads
 * (its whole PID namespace: agent, etcd and all, as a node losing power), time until a surviving
 * curator answers as leader and until every surviving node reads HEALTHY there (its first
 * heartbeat to the new leader), then start the killed node again and wait until all are HEALTHY.
 * With `--planned` the node is stopped instead (SIGTERM to its /init: the agent's orderly
 * shutdown, as for a reboot or an update), whose curator resigns (`crash-planned/<n>-nodes`).
 *
 * Where `heartbeats --failover` measures the leader's side at thousands of simulated nodes (a
 * second curator whose etcd lives on, nodes told at once who leads), this measures everything a
 * real crash involves at small scale: etcd losing a member (perhaps its raft leader), the curator
 * next in line finding the crashed leader's port refused and deposing it (curator/liveness.ts),
 * and each agent's resolver and role workers finding the new leader.
 *
 * Each survivor's curator is asked directly (GetNodes every 100 ms on one channel each; a follower
 * answers UNIMPLEMENTED), so the owner's own leader resolution does not add to the times.
 */
import type { Cluster } from "../launch/cluster.ts";
import { launchCluster } from "../launch/cluster.ts";
import { allHealthy, listNodes, makeConsensusMember } from "../launch/bringup.ts";
import { resolveOptions } from "../launch/options.ts";
import { dialService } from "../../node/core/rpc/client.ts";
import { PORTS } from "../../node/core/constants/ports.ts";
import { Management, Node_Health } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import type { ServiceClient } from "../../proto/grpc.ts";
import { arg, stringArg } from "./rss.ts";
import { median, progress, report, round as r2 } from "./report.ts";

/** Default subnet of the bench's cluster. */
export const CRASH_SUBNET = "10.1.57.0/24";
/** Nodes that are ConsensusMembers besides node 0 (which bootstraps). */
const MEMBERS = [1, 2];
/** Before each kill: long enough for the raft leader's chores (every 5 s) to have run twice. */
const SETTLE_MS = 12_000;
/** How long a round waits for the survivors before it gives up. */
const ROUND_LIMIT_MS = 60_000;
const POLL_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One crash: seconds from the kill to a new leader and to every survivor HEALTHY on it. */
export interface CrashRound {
  killed: number;
  newLeaderS: number;
  allHealthyS: number;
}

/** Management clients on every ConsensusMember, as the owner, one channel each. */
async function memberClients(c: Cluster, ids: string[]) {
  const api = c.api!;
  const out = new Map<number, ServiceClient<typeof Management.method>>();
  for (const i of [0, ...MEMBERS]) {
    out.set(
      i,
      await dialService(Management, `${c.nodeAddress(i)}:${PORTS.curator}`, {
        ca: api.owner.caCertificate,
        nodeId: ids[i],
        identity: { certificate: api.owner.certificate, privateKey: api.owner.keys.privateKey },
        socks5: c.socks.address,
      }),
    );
  }
  return out;
}

/** Which member's curator leads now: the one answering GetNodes (followers: UNIMPLEMENTED). */
async function leading(
  clients: Map<number, ServiceClient<typeof Management.method>>,
  except: number | undefined,
) {
  for (const [i, m] of clients) {
    if (i === except) continue;
    try {
      const nodes = await listNodes(m, "", 1000);
      return { index: i, nodes };
    } catch { /* a follower (UNIMPLEMENTED), or not reachable */ }
  }
  return undefined;
}

/** Kills the leader's node once and times the failover; the node is started again after. */
async function crashRound(
  c: Cluster,
  ids: string[],
  clients: Map<number, ServiceClient<typeof Management.method>>,
  planned: boolean,
): Promise<CrashRound> {
  const before = await leading(clients, undefined);
  if (!before) throw new Error("no curator leads before the kill");
  const killed = before.index;
  const survivors = new Set(ids.filter((_, i) => i !== killed));
  const t0 = performance.now();
  await (planned ? c.shutdownNode(killed) : c.killNode(killed));
  let newLeaderS: number | undefined;
  for (;;) {
    const now = await leading(clients, killed);
    const t = (performance.now() - t0) / 1000;
    if (now) {
      newLeaderS ??= t;
      const healthy = now.nodes.filter((n) =>
        survivors.has(n.id) && n.health === Node_Health.HEALTHY
      );
      if (healthy.length === survivors.size) {
        await c.startNode(killed);
        return { killed, newLeaderS, allHealthyS: t };
      }
    }
    if (t * 1000 > ROUND_LIMIT_MS) {
      throw new Error(
        `killed node ${killed}: ${
          newLeaderS === undefined ? "no new leader" : "survivors not HEALTHY"
        } after ${ROUND_LIMIT_MS / 1000} s`,
      );
    }
    await sleep(POLL_MS);
  }
}

/** The bench; `args` as on the command line after its name. */
export async function crash(args: string[]): Promise<void> {
  const rounds = arg(args, "rounds", 5);
  const n = arg(args, "nodes", 4);
  const planned = args.includes("--planned");
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error("--rounds must be a positive integer");
  }
  if (!Number.isInteger(n) || n < 3) throw new Error("--nodes must be an integer of at least 3");
  const c = await launchCluster(resolveOptions({
    "num-nodes": n,
    "tpm-mode": "disabled",
    tpm: "none",
    subnet: stringArg(args, "subnet", CRASH_SUBNET),
  }));
  let clients: Map<number, ServiceClient<typeof Management.method>> | undefined;
  try {
    const api = c.api!;
    const ids = await c.nodeIds();
    for (const i of MEMBERS) await makeConsensusMember(api, ids[i]);
    clients = await memberClients(c, ids);
    const done: CrashRound[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      while (!allHealthy(await api.nodes().catch(() => []), n)) {
        if (performance.now() - t0 > ROUND_LIMIT_MS) throw new Error("cluster not HEALTHY");
        await sleep(500);
      }
      await sleep(SETTLE_MS);
      const round = await crashRound(c, ids, clients, planned);
      done.push(round);
      progress(
        `crash: round ${r + 1}/${rounds}: node ${round.killed} ${
          planned ? "stopped" : "killed"
        }; new leader after ` +
          `${r2(round.newLeaderS)} s, every survivor HEALTHY on it after ${
            r2(round.allHealthyS)
          } s`,
      );
    }
    const worst = Math.max(...done.map((d) => d.allHealthyS));
    report({
      bench: `${planned ? "crash-planned" : "crash"}/${n}-nodes`,
      value: worst,
      unit: `s ${
        planned ? "stop" : "kill"
      } of the leader's node → every survivor HEALTHY on the new leader, worst round`,
      target: "<= 10",
      runs: done.length,
      ok: worst <= 10,
      extra: {
        medianS: r2(median(done.map((d) => d.allHealthyS))),
        newLeaderMedianS: r2(median(done.map((d) => d.newLeaderS))),
        newLeaderWorstS: r2(Math.max(...done.map((d) => d.newLeaderS))),
        rounds: done.map((d) => `${r2(d.newLeaderS)}+${r2(d.allHealthyS - d.newLeaderS)}`).join(
          " ",
        ),
        leaseTtlS: 10,
        consensusMembers: MEMBERS.length + 1,
      },
    });
  } finally {
    for (const m of clients?.values() ?? []) m.close();
    await c.close();
  }
}
