/**
 * The controllers' Kubernetes PKI (kubernetes.md §4) over etcd namespace `kubernetes/kube-pki/`:
 * the two CAs, the fixed controller certificates with cluster-wide keys
 * (`keys/<name>-privkey.bin`, Go's Ed25519 layout, `issued/<name>-cert.der`) and the RSA
 * service-account key (`service-account-privkey.der`, PKCS#8). Everything is created on first
 * use, idempotently: concurrent controllers converge on whichever key reached etcd first (the
 * storage's create-if-absent), so every controller serves and signs with the same material. The
 * profiles come from the one table in node/core/curator/kubepki.ts.
 */
import { type CA, equalBytes } from "../../base/pki/mod.ts";
import {
  certificatePem,
  exportGoEd25519,
  exportPkcs8,
  exportPkcs8Pem,
  exportSpki,
  generateEd25519,
  generateRsa2048,
  importGoEd25519,
  importPkcs8,
  pemEncode,
  privateKeyKey,
} from "../../base/pki/mod.ts";
import type { PkiStorage } from "../../base/pki/storage.ts";
import type { KV } from "../../core/consensus/kv.ts";
import {
  CONTROLLER_PROFILES,
  type ControllerCertName,
  kubeCA,
  type KubeCAName,
  kubePkiStorage,
} from "../../core/curator/kubepki.ts";
import { APISERVER_LOCAL } from "../paths.ts";
import { renderKubeconfig } from "./kubeconfig.ts";

/** A certificate and its private key as PEM (what component files and kubeconfigs take). */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** The service-account signing key as PEM: PKCS#8 private key and SPKI public key. */
export interface ServiceAccountKey {
  keyPem: string;
  pubPem: string;
}

/** Storage key of the service-account key (kubernetes.md §4). */
export const SERVICE_ACCOUNT_KEY = "service-account-privkey.der";

/** The controllers' view of the Kubernetes PKI; results are cached per instance. */
export class KubernetesPKI {
  readonly #storage: PkiStorage;
  readonly #cas: Record<KubeCAName, CA>;
  readonly #cache = new Map<string, Promise<unknown>>();

  /** The PKI in `storage` (the namespace `kubernetes/kube-pki/`; memory storage in tests). */
  constructor(storage: PkiStorage) {
    this.#storage = storage;
    this.#cas = {
      "id-ca": kubeCA(storage, "id-ca"),
      "aggregation-ca": kubeCA(storage, "aggregation-ca"),
    };
  }

  /** The PKI in the root KV of the local etcd. */
  static onKV(rootKV: KV): KubernetesPKI {
    return new KubernetesPKI(kubePkiStorage(rootKV));
  }

  /** PEM of the CA `name` (created on first use). */
  caPem(name: KubeCAName): Promise<string> {
    return this.#once(
      `ca:${name}`,
      async () => certificatePem(await this.#cas[name].certificate()),
    );
  }

  /** Certificate and key of the fixed controller identity `name` (created on first use). */
  identity(name: ControllerCertName): Promise<PemPair> {
    return this.#once(`id:${name}`, async () => {
      const keys = await this.#sharedEd25519(name);
      const p = CONTROLLER_PROFILES[name];
      const der = await this.#cas[p.issuer].ensure(name, p.template, keys.publicKey);
      return { certPem: certificatePem(der), keyPem: await exportPkcs8Pem(keys.privateKey) };
    });
  }

  /**
   * A kubeconfig for the controller identity `name` (CA = id-ca) pointing at `server`, by
   * default this node's apiserver on 127.0.0.1:6443 (kubernetes.md §4).
   */
  async kubeconfig(name: ControllerCertName, server: string = APISERVER_LOCAL): Promise<string> {
    const [caPem, id] = await Promise.all([this.caPem("id-ca"), this.identity(name)]);
    return renderKubeconfig({ server, caPem, certPem: id.certPem, keyPem: id.keyPem });
  }

  /** The service-account signing key (RSA-2048; the apiserver signs tokens only with RSA/ECDSA). */
  serviceAccountKey(): Promise<ServiceAccountKey> {
    return this.#once("sa", async () => {
      const fresh = await generateRsa2048();
      const stored = await this.#storage.createIfAbsent(
        SERVICE_ACCOUNT_KEY,
        await exportPkcs8(fresh.privateKey),
      );
      const keys = await importPkcs8(stored, "RSA");
      return {
        keyPem: await exportPkcs8Pem(keys.privateKey),
        pubPem: pemEncode("PUBLIC KEY", await exportSpki(keys.publicKey)),
      };
    });
  }

  async #sharedEd25519(name: string): Promise<CryptoKeyPair> {
    const fresh = await generateEd25519();
    const bytes = await exportGoEd25519(fresh);
    const stored = await this.#storage.createIfAbsent(privateKeyKey(name), bytes);
    return equalBytes(stored, bytes) ? fresh : await importGoEd25519(stored);
  }

  /** Runs `make` once per key; a failure is not cached, so the next caller tries again. */
  #once<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.#cache.get(key) as Promise<T> | undefined;
    if (!p) {
      p = make();
      p.catch(() => this.#cache.delete(key));
      this.#cache.set(key, p);
    }
    return p;
  }
}
