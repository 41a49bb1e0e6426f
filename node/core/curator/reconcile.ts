/**
 * The leader's background reconciliation of etcd membership with node roles (node.md §12.7),
 * every 5 s:
 * - etcd members whose node no longer exists are removed (e.g. after DeleteNode);
 * - ConsensusMember is cleared on nodes that are not etcd members (e.g. removed by hand).
 * The leader's own membership is never touched. Setting ConsensusMember on members that lack it
 * is left out on purpose: it would race with UpdateNodeRoles, which adds the member before it
 * writes the role with its peer certificate.
 */
import { create } from "@bufbuild/protobuf";
import { NodeRolesSchema } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import type { Leader } from "./leader.ts";

/** One reconciliation pass; returns what it changed (for logs and tests). */
export async function reconcileOnce(l: Leader): Promise<string[]> {
  const changes: string[] = [];
  await l.cache.sync();
  const members = await l.consensus.members();
  const memberIds = new Set(members.map((m) => m.name).filter(Boolean));
  for (const m of members) {
    if (!m.name || m.name === l.nodeId) continue;
    if (!l.cache.nodes.has(m.name)) {
      await l.consensus.removeNode(m.name);
      changes.push(`removed etcd member ${m.name} (no such node)`);
    }
  }
  for (const [id, c] of l.cache.nodes) {
    if (id === l.nodeId || !c.record.roles?.consensusMember || memberIds.has(id)) continue;
    await l.updateNode(id, (n) => {
      if (!n.roles?.consensusMember) return undefined;
      // KubernetesController requires ConsensusMember: both go.
      n.roles = create(NodeRolesSchema, {
        ...n.roles,
        consensusMember: undefined,
        kubernetesController: undefined,
      });
      return n;
    });
    changes.push(`cleared ConsensusMember on ${id} (not an etcd member)`);
  }
  return changes;
}

/** Runs {@link reconcileOnce} every `intervalMs` until leadership ends. */
export async function reconcileLoop(
  l: Leader,
  log: (line: string) => void,
  intervalMs = 5000,
): Promise<void> {
  while (!l.leadership.lost.aborted) {
    await new Promise<void>((r) => {
      const t = setTimeout(r, intervalMs);
      l.leadership.lost.addEventListener("abort", () => {
        clearTimeout(t);
        r();
      }, { once: true });
    });
    if (l.leadership.lost.aborted) return;
    try {
      for (const c of await reconcileOnce(l)) log(`reconcile: ${c}`);
    } catch (e) {
      log(`reconcile: ${(e as Error).message}`);
    }
  }
}
