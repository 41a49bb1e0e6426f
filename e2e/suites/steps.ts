/**
 * Steps several e2e suites share (testing.md §4): granting ConsensusMember with its LEARNER → FULL
 * wait, and "all nodes HEALTHY" with the suite's timeout.
 */
import { allHealthy, type ClusterAPI, makeConsensusMember } from "../launch/bringup.ts";
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
