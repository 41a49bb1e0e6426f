/**
 * Typed, namespaced access to etcd (node.md §11.6), the only way the rest of the agent touches
 * cluster state. Wraps npm:etcd3's Namespace so that:
 * - keys are strings relative to the namespace and values are bytes (protobuf) or strings;
 * - revisions are `bigint` (etcd's int64; etcd3 hands out decimal strings);
 * - transactions are plain data (compares + ops), which keeps the curator's guarded
 *   read-modify-write code declarative and testable.
 */
import type { Etcd3, IKeyValue, Namespace, Watcher } from "etcd3";

/** One key as stored in etcd. */
export interface KVEntry {
  /** Key relative to the namespace. */
  key: string;
  value: Uint8Array;
  createRevision: bigint;
  modRevision: bigint;
  version: bigint;
  /** Lease ID (decimal string) the key is attached to, "0" if none. */
  lease: string;
}

/** A transaction comparison, evaluated by etcd atomically with the ops. */
export interface Compare {
  key: string;
  target: "create" | "mod" | "version" | "value";
  op: "==" | "!=" | ">" | "<";
  /** bigint for revision/version targets, bytes or string for value. */
  value: bigint | Uint8Array | string;
}

/** A transaction operation. */
export type Op =
  | { put: string; value: Uint8Array | string; lease?: string }
  | { delete: string }
  | { deletePrefix: string }
  | { get: string };

/** Result of a transaction. */
export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the transaction. */
  revision: bigint;
  /** Entries returned by `get` ops of the branch that ran, in op order (undefined: absent). */
  gets: (KVEntry | undefined)[];
}

/** A change seen by a watch. */
export interface KVEvent {
  type: "put" | "delete";
  entry: KVEntry;
}

const TARGET = { create: "Create", mod: "Mod", version: "Version", value: "Value" } as const;

function toEntry(kv: IKeyValue): KVEntry {
  return {
    key: kv.key.toString(),
    value: new Uint8Array(kv.value),
    createRevision: BigInt(kv.create_revision),
    modRevision: BigInt(kv.mod_revision),
    version: BigInt(kv.version),
    lease: String(kv.lease ?? "0"),
  };
}

function bytes(v: Uint8Array | string): Buffer {
  return typeof v === "string" ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.length);
}

/** Namespaced key-value client over one etcd3 connection. */
export class KV {
  /** The absolute prefix of this namespace. */
  readonly prefix: string;
  readonly #client: Etcd3;
  readonly #ns: Namespace;

  /** Wraps `client` confined to `prefix` (e.g. `curator/`). */
  constructor(client: Etcd3, prefix = "") {
    this.#client = client;
    this.prefix = prefix;
    this.#ns = prefix ? client.namespace(prefix) : client;
  }

  /** The underlying etcd3 client (cluster/lease APIs). */
  get client(): Etcd3 {
    return this.#client;
  }

  /** A nested namespace: `kv.namespace("cluster-pki/")` on `curator/` is `curator/cluster-pki/`. */
  namespace(sub: string): KV {
    return new KV(this.#client, this.prefix + sub);
  }

  /** Reads one key; undefined when absent. */
  async get(key: string): Promise<KVEntry | undefined> {
    const r = await this.#ns.get(key).exec();
    return r.kvs.length ? toEntry(r.kvs[0]) : undefined;
  }

  /** Reads all keys under `prefix` (relative) with the store revision of the read. */
  async list(prefix = ""): Promise<{ entries: KVEntry[]; revision: bigint }> {
    const b = this.#ns.getAll();
    const r = await (prefix ? b.prefix(prefix) : b.all()).sort("Key", "Ascend").exec();
    return { entries: r.kvs.map(toEntry), revision: BigInt(r.header.revision) };
  }

  /** Current store revision, through a linearizable read (so it covers all acknowledged writes). */
  async revision(): Promise<bigint> {
    const r = await this.#ns.get("\0revision-probe").exec();
    return BigInt(r.header.revision);
  }

  /** Writes one key; returns the new store revision. */
  async put(key: string, value: Uint8Array | string, lease?: string): Promise<bigint> {
    const b = this.#ns.put(key).value(bytes(value));
    const r = await (lease ? b.lease(lease) : b).exec();
    return BigInt(r.header.revision);
  }

  /** Deletes one key; returns whether it existed. */
  async delete(key: string): Promise<boolean> {
    const r = await this.#ns.delete().key(key).exec();
    return BigInt(r.deleted) > 0n;
  }

  /** Runs `then` if every compare holds, else `otherwise`, atomically. */
  async txn(compares: Compare[], then: Op[], otherwise: Op[] = []): Promise<TxnResult> {
    // etcd3's builder always starts with one compare; an unconditional transaction compares a key
    // that is never written against create revision 0, which always holds.
    const cs: Compare[] = compares.length
      ? compares
      : [{ key: "\0never-written", target: "create", op: "==", value: 0n }];
    let cb = this.#ns.if(cs[0].key, TARGET[cs[0].target], cs[0].op, this.#cmpValue(cs[0]));
    for (const c of cs.slice(1)) {
      cb = cb.and(c.key, TARGET[c.target], c.op, this.#cmpValue(c));
    }
    const ops = (list: Op[]) => list.map((o) => this.#op(o));
    const r = await cb.then(...ops(then)).else(...ops(otherwise)).commit();
    const branch = r.succeeded ? then : otherwise;
    const gets: (KVEntry | undefined)[] = [];
    branch.forEach((o, i) => {
      if ("get" in o) {
        const kvs = r.responses[i]?.response_range?.kvs ?? [];
        gets.push(kvs.length ? this.#unprefixed(toEntry(kvs[0])) : undefined);
      }
    });
    return { succeeded: r.succeeded, revision: BigInt(r.header.revision), gets };
  }

  /**
   * Watches keys under `prefix` (relative) starting at `fromRevision` (inclusive) and calls
   * `onEvent` for every change in revision order. Resolves once the watch is established.
   */
  async watch(
    prefix: string,
    fromRevision: bigint,
    onEvent: (e: KVEvent, revision: bigint) => void,
    onError: (e: Error) => void = () => {},
  ): Promise<{ cancel: () => Promise<void> }> {
    const w: Watcher = await this.#ns.watch().prefix(prefix).startRevision(String(fromRevision))
      .create();
    w.on("data", (res) => {
      for (const ev of res.events) {
        onEvent(
          { type: ev.type === "Delete" ? "delete" : "put", entry: toEntry(ev.kv) },
          BigInt(ev.kv.mod_revision),
        );
      }
    });
    w.on("error", onError);
    return { cancel: () => w.cancel() };
  }

  #unprefixed(e: KVEntry): KVEntry {
    return e.key.startsWith(this.prefix) ? { ...e, key: e.key.slice(this.prefix.length) } : e;
  }

  #cmpValue(c: Compare): string | Buffer | number {
    if (c.target === "value") return bytes(c.value as Uint8Array | string);
    return String(c.value);
  }

  #op(o: Op) {
    if ("put" in o) {
      const b = this.#ns.put(o.put).value(bytes(o.value));
      return o.lease ? b.lease(o.lease) : b;
    }
    if ("delete" in o) return this.#ns.delete().key(o.delete);
    if ("deletePrefix" in o) return this.#ns.delete().prefix(o.deletePrefix);
    return this.#ns.get(o.get);
  }
}
