/**
 * {@link PkiStorage} on etcd: a CA's key, certificates and CRL under a namespaced KV such as
 * `curator/cluster-pki/` or `etcd-pki/` (node.md §9).
 */
import type { PkiStorage } from "../../base/pki/storage.ts";
import type { KV } from "./kv.ts";

/** PKI storage in the namespace `kv`. */
export class EtcdPkiStorage implements PkiStorage {
  readonly #kv: KV;

  /** Stores keys relative to `kv`'s namespace. */
  constructor(kv: KV) {
    this.#kv = kv;
  }

  /** See {@link PkiStorage.get}. */
  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.#kv.get(key))?.value;
  }

  /** See {@link PkiStorage.put}. */
  async put(key: string, value: Uint8Array): Promise<void> {
    await this.#kv.put(key, value);
  }

  /** See {@link PkiStorage.createIfAbsent}: one etcd transaction on create revision 0. */
  async createIfAbsent(key: string, value: Uint8Array): Promise<Uint8Array> {
    const r = await this.#kv.txn(
      [{ key, target: "create", op: "==", value: 0n }],
      [{ put: key, value }],
      [{ get: key }],
    );
    if (r.succeeded) return value;
    const winner = r.gets[0];
    if (!winner) throw new Error(`pki storage: ${key} vanished during create-if-absent`);
    return winner.value;
  }
}
