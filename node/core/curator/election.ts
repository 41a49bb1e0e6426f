/**
 * Curator leader election on etcd (node.md §12.1).
 *
 * Each candidate holds a lease (TTL 10 s, kept alive by etcd3) and one key `leader/<lease hex>`
 * attached to it, whose value is the serialized `LeaderElectionValue`. The candidate whose key has
 * the lowest create revision leads. A leader proves it still leads in every write by guarding the
 * transaction with `create_revision(<own key>) == <own create revision>`: if the lease expired (and
 * with it the key), the guard fails and the write is refused, so a partitioned ex-leader can never
 * overwrite state. For the same reason the candidate next in line may delete the leader's key
 * ({@link depose}) when it judges the leader's node gone (liveness.ts) instead of waiting for the
 * lease to run out.
 */
import type { Lease } from "etcd3";
import type { Compare, KV, KVEntry } from "../consensus/kv.ts";
import { equalBytes } from "../../base/pki/keys.ts";

/** Prefix of election keys inside the curator namespace. */
export const ELECTION_PREFIX = "leader/";

/** Held leadership. */
export interface Leadership {
  /** Election key (relative to the curator namespace). */
  key: string;
  createRevision: bigint;
  /** Lease ID (decimal string). */
  leaseId: string;
  /** Transaction compare proving leadership; add it to every leader write. */
  guard: Compare;
  /** Aborted when leadership is lost (lease lost, key deleted, or resign). */
  lost: AbortSignal;
  /** Gives up leadership: revokes the lease, which deletes the key. */
  resign(): Promise<void>;
}

/** What an observer sees: the current leader's election value, or none. */
export interface LeaderObservation {
  key: string;
  value: Uint8Array;
  createRevision: bigint;
}

/** Options of a campaign. */
export interface CampaignOptions {
  /** Lease TTL in seconds (10 in production). */
  ttl: number;
  /** Serialized LeaderElectionValue of this candidate. */
  value: Uint8Array;
  signal: AbortSignal;
  /** Called with every leader change seen while waiting (followers report it). */
  onLeader?: (leader: LeaderObservation | undefined) => void;
  /**
   * Runs while this candidate is next in line (the second-lowest create revision) behind
   * `leader`; `signal` aborts at the next change under the prefix or when the campaign ends. The
   * curator watches the leader's liveness here and may {@link depose} it. Its errors are ignored:
   * the campaign goes on as if it had returned.
   */
  whileNext?: (leader: LeaderObservation, signal: AbortSignal) => Promise<void>;
}

function lowest(entries: KVEntry[]): KVEntry | undefined {
  let best: KVEntry | undefined;
  for (const e of entries) if (!best || e.createRevision < best.createRevision) best = e;
  return best;
}

/** Whether `key` has the second-lowest create revision: it leads next when the leader goes. */
function isNext(entries: KVEntry[], leaderKey: string, key: string): boolean {
  const rest = entries.filter((e) => e.key !== leaderKey);
  return lowest(rest)?.key === key;
}

/**
 * Ends `leader`'s term by deleting its election key, if that key still has the observed create
 * revision (not a later incarnation). Safe whatever the leader's state: every leader write is
 * guarded by its key, and a live leader sees the deletion and campaigns again at the end of the
 * line. Returns whether the key was deleted.
 */
export async function depose(kv: KV, leader: LeaderObservation): Promise<boolean> {
  const r = await kv.txn(
    [{ key: leader.key, target: "create", op: "==", value: leader.createRevision }],
    [{ delete: leader.key }],
  );
  return r.succeeded;
}

/**
 * Campaigns until this candidate leads (resolves with the Leadership) or the signal aborts
 * (rejects with the abort reason). While waiting, `onLeader` reports who leads.
 */
export async function campaign(kv: KV, opts: CampaignOptions): Promise<Leadership> {
  const lease: Lease = kv.client.lease(opts.ttl, { autoKeepAlive: true });
  const lost = new AbortController();
  lease.on("lost", (err) => lost.abort(new Error(`election lease lost: ${err?.message ?? err}`)));
  const abort = () => {
    lost.abort(opts.signal.reason);
    lease.revoke().catch(() => {});
  };
  opts.signal.addEventListener("abort", abort, { once: true });
  try {
    const leaseId = await lease.grant();
    const key = `${ELECTION_PREFIX}${BigInt(leaseId).toString(16)}`;
    // Keys with our own value are this candidate's earlier incarnations (e.g. before a reboot or
    // a cold start of the cluster, whose leases etcd keeps alive for a TTL after restarting).
    // They would make everyone, this node included, follow a leader that no longer exists.
    for (const e of (await kv.list(ELECTION_PREFIX)).entries) {
      if (e.key !== key && equalBytes(e.value, opts.value)) await kv.delete(e.key);
    }
    await kv.put(key, opts.value, leaseId);
    const own = await kv.get(key);
    if (!own) throw new Error("election key vanished right after creation");
    for (;;) {
      opts.signal.throwIfAborted();
      lost.signal.throwIfAborted();
      const { entries, revision } = await kv.list(ELECTION_PREFIX);
      const leader = lowest(entries);
      if (!entries.some((e) => e.key === key)) throw new Error("election key lost while waiting");
      if (leader?.key === key) {
        const leadership: Leadership = {
          key,
          createRevision: own.createRevision,
          leaseId,
          guard: { key, target: "create", op: "==", value: own.createRevision },
          lost: lost.signal,
          resign: async () => {
            lost.abort(new Error("resigned"));
            await lease.revoke().catch(() => {});
          },
        };
        // Watch our own key: its deletion (lease expiry seen by etcd) ends leadership.
        const w = await kv.watch(key, revision + 1n, (ev) => {
          if (ev.type === "delete" && ev.entry.key === key) {
            lost.abort(new Error("election key deleted"));
          }
        }, (err) => lost.abort(err));
        lost.signal.addEventListener("abort", () => {
          w.cancel().catch(() => {});
          lease.revoke().catch(() => {});
        }, { once: true });
        // Aborted or lost while the last calls ran: no listener below would see it (the catch
        // below cancels the watch and revokes the lease).
        opts.signal.throwIfAborted();
        lost.signal.throwIfAborted();
        opts.signal.removeEventListener("abort", abort);
        opts.signal.addEventListener("abort", () => leadership.resign(), { once: true });
        return leadership;
      }
      const observed: LeaderObservation | undefined = leader &&
        { key: leader.key, value: leader.value, createRevision: leader.createRevision };
      opts.onLeader?.(observed);
      // Wait for any change under the prefix, then re-evaluate.
      const next = new AbortController();
      await new Promise<void>((resolve, reject) => {
        let w: { cancel: () => Promise<void> } | undefined;
        let settled = false;
        const finish = (err?: unknown) => {
          if (settled) return;
          settled = true;
          next.abort();
          w?.cancel().catch(() => {});
          opts.signal.removeEventListener("abort", onAbort);
          lost.signal.removeEventListener("abort", onAbort);
          if (err) reject(err);
          else resolve();
        };
        const onAbort = () => finish(opts.signal.reason ?? lost.signal.reason);
        opts.signal.addEventListener("abort", onAbort, { once: true });
        lost.signal.addEventListener("abort", onAbort, { once: true });
        kv.watch(ELECTION_PREFIX, revision + 1n, () => finish(), (e) => finish(e)).then((h) => {
          w = h;
          if (settled) h.cancel().catch(() => {});
        }, finish);
        if (opts.whileNext && observed && isNext(entries, observed.key, key)) {
          opts.whileNext(observed, next.signal).catch(() => {});
        }
      });
    }
  } catch (e) {
    opts.signal.removeEventListener("abort", abort);
    lost.abort(e);
    await lease.revoke().catch(() => {});
    throw e;
  }
}

/** Reads the current leader (lowest create revision), if any. */
export async function currentLeader(kv: KV): Promise<LeaderObservation | undefined> {
  const { entries } = await kv.list(ELECTION_PREFIX);
  const l = lowest(entries);
  return l && { key: l.key, value: l.value, createRevision: l.createRevision };
}
