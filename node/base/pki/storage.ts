/**
 * Where a CA keeps its key, its issued certificates and its CRL. The keys follow node.md §9
 * (relative to a namespace such as `curator/cluster-pki/`):
 * - `issued/<name>-cert.der`: DER certificate issued under `<name>` (the CA's own under its name);
 * - `keys/<name>-privkey.bin`: private key the cluster generated (only the CA's);
 * - `<ca>-crl.der`: DER CRL of the CA.
 * The etcd-backed implementation lives in node/core/consensus; {@link MemoryPkiStorage} is for
 * tests and single-process use.
 */

/** A namespaced byte store with one atomic primitive. */
export interface PkiStorage {
  /** The value under `key`, undefined when absent. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Stores `value` under `key`, replacing any previous value. */
  put(key: string, value: Uint8Array): Promise<void>;
  /**
   * Atomically stores `value` under `key` if the key is absent (etcd: txn on create revision 0)
   * and returns the value stored under `key` afterwards: `value` itself, or the one that won.
   */
  createIfAbsent(key: string, value: Uint8Array): Promise<Uint8Array>;
}

/** Key of the certificate issued under `name`. */
export const certKey = (name: string): string => `issued/${name}-cert.der`;
/** Key of the private key generated for `name`. */
export const privateKeyKey = (name: string): string => `keys/${name}-privkey.bin`;
/** Key of the CRL of the CA `ca`. */
export const crlKey = (ca: string): string => `${ca}-crl.der`;

/** In-memory {@link PkiStorage} (a Map); values are copied in and out. */
export class MemoryPkiStorage implements PkiStorage {
  /** The raw map, visible for tests. */
  readonly data: Map<string, Uint8Array> = new Map();

  /** See {@link PkiStorage.get}. */
  get(key: string): Promise<Uint8Array | undefined> {
    const v = this.data.get(key);
    return Promise.resolve(v ? v.slice() : undefined);
  }

  /** See {@link PkiStorage.put}. */
  put(key: string, value: Uint8Array): Promise<void> {
    this.data.set(key, value.slice());
    return Promise.resolve();
  }

  /** See {@link PkiStorage.createIfAbsent}. */
  createIfAbsent(key: string, value: Uint8Array): Promise<Uint8Array> {
    if (!this.data.has(key)) this.data.set(key, value.slice());
    return Promise.resolve(this.data.get(key)!.slice());
  }
}
