/**
 * A rolling OS update over nodes (metroctl.md `node update`): at most `maxUnavailable` nodes are
 * in flight; each gets its UpdateNode, then is watched until it is HEALTHY again — on the new
 * version when that is known — before the next node takes its place. After the first failure no
 * further node is started (a node that does not come back should not take others with it);
 * nodes in flight finish. The RPCs are injected (cmd/node_update.ts), so the scheduling is
 * tested without a cluster.
 * @module
 */
import { delay } from "../../node/base/delay/delay.ts";

/** A node to update. */
export interface RolloutNode {
  id: string;
  address: string;
}

/** What GetNodes says about a node. */
export interface NodeObservation {
  healthy: boolean;
  version?: string;
}

/** Options of {@link rollout}. */
export interface RolloutOptions {
  nodes: RolloutNode[];
  maxUnavailable: number;
  /** Sends UpdateNode (rejects with the node's status). */
  send(n: RolloutNode): Promise<void>;
  /** Reads the node's health and version. */
  observe(n: RolloutNode): Promise<NodeObservation>;
  /** The version the image carries, when metroctl could read it. */
  expectedVersion?: string;
  /** False for activation `none`: the node keeps running the old version until it reboots. */
  waitForRestart: boolean;
  /** Wait after UpdateNode before the first look (default 15 s: the node reboots after 2 s). */
  firstWaitMs?: number;
  /** Interval between looks (default 10 s). */
  pollMs?: number;
  /**
   * How long one look may take (default 30 s): a GetNodes that hangs — e.g. on a connection to a
   * leader that is just rebooting — counts as "not visible" and the next look follows, so the
   * node's own deadline still applies.
   */
  lookMs?: number;
  /** How long one node may take to come back (default 30 min). */
  timeoutMs?: number;
  signal: AbortSignal;
  /** stderr lines. */
  log(line: string): void;
}

/** Outcome of a rollout. */
export interface RolloutResult {
  updated: string[];
  failed: Array<{ id: string; error: string }>;
  /** Nodes not started because an earlier one failed. */
  skipped: string[];
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** One {@link RolloutOptions.observe}, undefined when it fails or outlasts `lookMs`. */
async function look(o: RolloutOptions, n: RolloutNode): Promise<NodeObservation | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), o.lookMs ?? 30_000);
  });
  try {
    return await Promise.race([o.observe(n).catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function updateOne(o: RolloutOptions, n: RolloutNode): Promise<void> {
  const start = performance.now();
  o.log(`sending update request to: ${n.id} (${n.address})`);
  await o.send(n);
  if (!o.waitForRestart) {
    o.log(`node ${n.id}: image installed; it activates on the node's next reboot`);
    return;
  }
  await delay(o.firstWaitMs ?? 15_000, o.signal);
  const deadline = start + (o.timeoutMs ?? 30 * 60_000);
  let last: NodeObservation | undefined;
  for (;;) {
    if (o.signal.aborted) throw new Error("interrupted");
    last = await look(o, n);
    const onVersion = !o.expectedVersion || last?.version === o.expectedVersion;
    if (last?.healthy && onVersion) {
      o.log(
        `node ${n.id} updated in ${secs(performance.now() - start)} to version ${
          last.version ?? "unknown"
        }`,
      );
      return;
    }
    if (performance.now() > deadline) {
      const want = o.expectedVersion ? ` on version ${o.expectedVersion}` : "";
      const seen = last
        ? `${last.healthy ? "HEALTHY" : "not HEALTHY"} on version ${last.version ?? "unknown"}`
        : "not visible";
      throw new Error(
        `did not come back HEALTHY${want} within ${secs(o.timeoutMs ?? 1800_000)} (${seen})`,
      );
    }
    await delay(o.pollMs ?? 10_000, o.signal);
  }
}

/** Runs the rollout; never rejects (failures are in the result). */
export async function rollout(o: RolloutOptions): Promise<RolloutResult> {
  const queue = [...o.nodes];
  const res: RolloutResult = { updated: [], failed: [], skipped: [] };
  const worker = async () => {
    for (let n = queue.shift(); n; n = queue.shift()) {
      if (res.failed.length || o.signal.aborted) {
        res.skipped.push(n.id);
        continue;
      }
      try {
        await updateOne(o, n);
        res.updated.push(n.id);
      } catch (e) {
        const error = ((e as Error).message ?? String(e)).split("\n")[0];
        res.failed.push({ id: n.id, error });
        o.log(`Couldn't update node "${n.id}": ${error}`);
      }
    }
  };
  const width = Math.max(1, Math.min(o.maxUnavailable, queue.length));
  await Promise.all(Array.from({ length: width }, worker));
  return res;
}
