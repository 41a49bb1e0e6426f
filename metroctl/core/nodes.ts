/**
 * Node selection and presentation: `GetNodes` with a filter, single-node lookup by ID, and the
 * `node describe` row of metroctl.md §3.1 (version and role formatting included).
 */
import { roleNames } from "../../node/core/constants/roles.ts";
import { toJson } from "@bufbuild/protobuf";
import {
  Management,
  type Node,
  Node_Health,
  NodeSchema,
} from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import { NodeState, NodeTPMUsage } from "../../proto/gen/metropolis/proto/common/common_pb.ts";
import type { Version } from "../../proto/gen/version/spec/spec_pb.ts";
import type { Cluster } from "./dial.ts";
import { CliError, describeError } from "./errors.ts";
import type { Row } from "./output.ts";

/** All nodes matching the CEL `filter` (empty: all). */
export async function getNodes(cluster: Cluster, filter: string): Promise<Node[]> {
  const mgmt = await cluster.client(Management);
  const out: Node[] = [];
  try {
    for await (const n of mgmt.getNodes({ filter })) out.push(n);
  } catch (e) {
    throw new CliError(`GetNodes: ${describeError(e)}`);
  }
  return out;
}

/** The one node with `id`; errors per metroctl.md §4. */
export async function nodeById(cluster: Cluster, id: string): Promise<Node> {
  const nodes = await getNodes(cluster, `node.id == ${JSON.stringify(id)}`);
  if (nodes.length === 0) throw new CliError(`no such node: ${id}`);
  if (nodes.length > 1) throw new CliError("expression matched more than one node");
  return nodes[0];
}

/** The node's external address; errors when it has none (node-local RPCs). */
export function nodeAddress(n: Node): string {
  const a = n.status?.externalAddress;
  if (!a) throw new CliError(`node ${n.id}: node has no external address`);
  return a;
}

/** Assigned roles, sorted and comma-joined. */
export function rolesOf(n: Node): string {
  return roleNames(n.roles).sort().join(",");
}

/** `MAJOR.MINOR.PATCH-<parts>` per metroctl.md §3.1. */
export function formatVersion(v: Version): string {
  const r = v.release;
  const base = `${r?.major ?? 0n}.${r?.minor ?? 0n}.${r?.patch ?? 0n}`;
  const g = v.gitInformation;
  if (!g) return `${base}-nostamp`;
  const parts: string[] = [];
  if (g.commitsSinceRelease !== 0n) parts.push(`dev${g.commitsSinceRelease}`);
  parts.push(`g${g.commitHash.slice(0, 8)}`);
  if (g.buildTreeState === 2) parts.push("dirty");
  return `${base}-${parts.join(".")}`;
}

function tpmOf(n: Node): string {
  switch (n.tpmUsage) {
    case NodeTPMUsage.NODE_TPM_USAGE_PRESENT_AND_USED:
      return "yes";
    case NodeTPMUsage.NODE_TPM_USAGE_PRESENT_BUT_UNUSED:
      return "unused";
    case NodeTPMUsage.NODE_TPM_USAGE_NOT_PRESENT:
      return "no";
    default:
      return "unk";
  }
}

/** Column keys of `node describe`, in order. */
export const DESCRIBE_COLUMNS = [
  "node id",
  "state",
  "address",
  "health",
  "roles",
  "tpm",
  "version",
  "heartbeat",
  "labels",
] as const;

/** The `node describe` row of a node. */
export function describeRow(n: Node): Row {
  const row: Row = {
    "node id": n.id,
    state: NodeState[n.state] ?? String(n.state),
    address: n.status?.externalAddress || "unknown",
    health: Node_Health[n.health] ?? String(n.health),
    roles: rolesOf(n),
    tpm: tpmOf(n),
  };
  if (n.status?.version) row.version = formatVersion(n.status.version);
  row.heartbeat = `${n.timeSinceHeartbeat?.seconds ?? 0n}s`;
  if (n.labels) row.labels = n.labels.pairs.map((p) => `${p.key}:${p.value}`).join(",");
  return row;
}

/** The protobuf JSON mapping of a node. */
export function nodeJson(n: Node): unknown {
  return toJson(NodeSchema, n);
}

/** Narrows `nodes` to `ids` (none or `all`: no narrowing). */
export function narrow(nodes: Node[], ids: string[]): Node[] {
  if (ids.length === 0 || ids.includes("all")) return nodes;
  return nodes.filter((n) => ids.includes(n.id));
}
