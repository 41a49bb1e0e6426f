/**
 * The leader's in-memory copy of all node records (node.md §12.4), fed by a watch on `nodes/`
 * from the revision of an initial range read.
 *
 * Read-your-writes: every leader write that touches `nodes/` reports its revision through
 * {@link NodeCache.noteWrite}; readers call {@link NodeCache.sync}, which waits until the cache
 * has applied at least that revision. Only the leader writes node records, so this covers every
 * write a client could have seen acknowledged.
 */
import { fromBinary } from "@bufbuild/protobuf";
import {
  type Node as NodeRecord,
  NodeSchema as NodeRecordSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import type { KV } from "../consensus/kv.ts";
import { NODES_PREFIX } from "./keys.ts";

/** One cached node record. */
export interface CachedNode {
  record: NodeRecord;
  modRevision: bigint;
}

/** A change of one node: `record` undefined means deleted. */
export interface NodeChange {
  id: string;
  record?: NodeRecord;
}

/** See the module comment. */
export class NodeCache {
  readonly nodes: Map<string, CachedNode> = new Map();
  #revision = 0n;
  #wanted = 0n;
  #waiters: { rev: bigint; resolve: () => void }[] = [];
  #listeners = new Set<(c: NodeChange) => void>();
  #cancel?: () => Promise<void>;
  #error?: Error;
  #sorted?: { revision: bigint; ids: string[] };

  /** Revision up to which the cache is complete. */
  get revision(): bigint {
    return this.#revision;
  }

  /** Loads all records and starts the watch. Stops when `signal` aborts. */
  static async start(kv: KV, signal: AbortSignal): Promise<NodeCache> {
    const c = new NodeCache();
    const { entries, revision } = await kv.list(NODES_PREFIX);
    for (const e of entries) {
      const id = e.key.slice(NODES_PREFIX.length);
      c.nodes.set(id, {
        record: fromBinary(NodeRecordSchema, e.value),
        modRevision: e.modRevision,
      });
    }
    c.#advance(revision);
    const w = await kv.watch(NODES_PREFIX, revision + 1n, (ev, rev) => {
      const id = ev.entry.key.slice(NODES_PREFIX.length);
      if (ev.type === "delete") {
        c.nodes.delete(id);
        c.#emit({ id });
      } else {
        const record = fromBinary(NodeRecordSchema, ev.entry.value);
        c.nodes.set(id, { record, modRevision: ev.entry.modRevision });
        c.#emit({ id, record });
      }
      c.#advance(rev);
    }, (err) => {
      c.#error = err;
    });
    c.#cancel = w.cancel;
    signal.addEventListener("abort", () => c.stop(), { once: true });
    return c;
  }

  /** Stops the watch. */
  async stop(): Promise<void> {
    await this.#cancel?.().catch(() => {});
    this.#cancel = undefined;
  }

  /** Records that a write touching `nodes/` completed at `revision`. */
  noteWrite(revision: bigint): void {
    if (revision > this.#wanted) this.#wanted = revision;
  }

  /** Waits until every noted write is visible (at most `timeoutMs`, then throws). */
  sync(timeoutMs = 5000): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    const rev = this.#wanted;
    if (this.#revision >= rev) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`node cache did not reach revision ${rev} in ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.#waiters.push({ rev, resolve: done });
    });
  }

  /**
   * Node IDs, sorted (GetNodes and every all-nodes watch send nodes in this order); re-sorted
   * only when the cache moved to another revision (the cache applies all events of a revision
   * synchronously, so a revision names one set of IDs). Shared: callers must not change it.
   */
  sortedIds(): readonly string[] {
    const s = this.#sorted;
    if (s && s.revision === this.#revision && s.ids.length === this.nodes.size) return s.ids;
    const ids = [...this.nodes.keys()].sort();
    this.#sorted = { revision: this.#revision, ids };
    return ids;
  }

  /** Subscribes to changes; returns an unsubscribe function. */
  subscribe(fn: (c: NodeChange) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #emit(c: NodeChange) {
    for (const l of this.#listeners) {
      try {
        l(c);
      } catch { /* a listener's failure must not break the cache */ }
    }
  }

  #advance(rev: bigint) {
    if (rev <= this.#revision) return;
    this.#revision = rev;
    const ready = this.#waiters.filter((w) => w.rev <= rev);
    this.#waiters = this.#waiters.filter((w) => w.rev > rev);
    for (const w of ready) w.resolve();
  }
}
