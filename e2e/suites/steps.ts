/**
 * Steps several e2e suites share (testing.md §4): granting ConsensusMember with its LEARNER → FULL
 * wait, and "all nodes HEALTHY" with the suite's timeout.
 */
import { allHealthy, type ClusterAPI, makeConsensusMember } from "../launch/bringup.ts";
import type { Cluster } from "../launch/cluster.ts";
import { run } from "../launch/exec.ts";
import { PORTS } from "../../node/core/constants/ports.ts";
import { testEventual } from "./eventual.ts";

/** Step per node: `node <i> becomes a ConsensusMember` (60 s each). */
export async function stepConsensusMembers(
  api: ClusterAPI,
  ids: string[],
  indices: number[],
): Promise<void> {
  for (const i of indices) {
    await testEventual(
      `node ${i} becomes a ConsensusMember`,
      60,
      () => makeConsensusMember(api, ids[i], 55_000),
    );
  }
}

/** Step: exactly `n` nodes, all UP with an address and HEALTHY, within `timeoutS`. */
export function stepAllHealthy(
  api: ClusterAPI,
  n: number,
  timeoutS: number,
  name = "all nodes HEALTHY",
): Promise<void> {
  return testEventual(name, timeoutS, async () => {
    const nodes = await api.nodes();
    if (!allHealthy(nodes, n)) throw new Error(`${nodes.length} nodes, not all HEALTHY`);
  });
}

/**
 * Established connections to the curator port in network namespace `netns`, counted by peer
 * address (from `ss`).
 */
export async function curatorPeers(netns: string): Promise<Map<string, number>> {
  const out = await run("ip", [
    "netns",
    "exec",
    netns,
    "ss",
    "-Htn",
    "state",
    "established",
    `( sport = :${PORTS.curator} )`,
  ]);
  const peers = new Map<string, number>();
  for (const line of out.split("\n")) {
    // Recv-Q Send-Q Local:Port Peer:Port (no state column with a state filter)
    const peer = line.trim().split(/\s+/)[3];
    if (!peer) continue;
    // `[::ffff:10.1.42.3]:51234` on the dual-stack listener
    const addr = peer.slice(0, peer.lastIndexOf(":")).replace(/^\[|\]$/g, "").replace(
      /^::ffff:(?=\d+\.)/,
      "",
    );
    peers.set(addr, (peers.get(addr) ?? 0) + 1);
  }
  return peers;
}

/**
 * Step (namespace clusters): every node but the leader holds exactly one connection to the
 * leader's curator, whatever it runs over it (heartbeats, watches, status, the resolver's stream).
 */
export function stepOneConnectionPerNode(
  c: Cluster,
  api: ClusterAPI,
  ids: string[],
  timeoutS = 30,
): Promise<void> {
  return testEventual("every node holds one connection to the leader", timeoutS, async () => {
    const leader = await api.leader();
    const li = ids.indexOf(leader.nodeId);
    if (li < 0) throw new Error(`leader ${leader.nodeId} is not a node of this cluster`);
    const peers = await curatorPeers(c.nodes[li].opts.netns);
    const counts = ids.map((_, i) => i === li ? "leader" : peers.get(c.nodeAddress(i)) ?? 0);
    if (counts.some((n) => n !== "leader" && n !== 1)) {
      throw new Error(`connections to the leader (node ${li}) per node: ${counts.join(", ")}`);
    }
  });
}
