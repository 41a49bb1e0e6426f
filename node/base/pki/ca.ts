/**
 * A certificate authority over a {@link PkiStorage}: generates (once) and keeps its own key and
 * self-signed certificate, and issues certificates idempotently by name (node.md §9): a stored
 * certificate is returned unchanged for the same public key, re-issued and replaced for another.
 */
import { loadX509 } from "./x509.ts";
import { type CertTemplate, issueCertificate, type Signer } from "./cert.ts";
import {
  equalBytes,
  exportGoEd25519,
  exportPkcs8,
  exportSpki,
  generateEd25519,
  generateRsa2048,
  importGoEd25519,
  importPkcs8,
} from "./keys.ts";
import { certKey, crlKey, type PkiStorage, privateKeyKey } from "./storage.ts";

/** Options of a {@link CA}. */
export interface CAOptions {
  /** Storage namespace of this PKI. */
  storage: PkiStorage;
  /** Name of the CA (storage keys); e.g. `ca`. */
  name: string;
  /** Profile of the CA's self-signed certificate; must have `isCA: true`. */
  template: CertTemplate;
  /** Key algorithm of the CA key (default Ed25519). */
  keyKind?: "Ed25519" | "RSA";
}

/** A CA whose key and certificate live in storage; see the module comment. */
export class CA {
  readonly name: string;
  readonly #opts: CAOptions;
  #signer?: Promise<Signer>;

  /** Declares the CA; nothing is generated until first use. */
  constructor(opts: CAOptions) {
    if (!opts.template.isCA) throw new Error(`pki: CA "${opts.name}" template must have isCA`);
    if (!/^[A-Za-z0-9._-]+$/.test(opts.name)) throw new Error(`pki: bad CA name "${opts.name}"`);
    this.name = opts.name;
    this.#opts = opts;
  }

  /** Returns the CA's key and certificate, creating them in storage on first use. */
  signer(): Promise<Signer> {
    this.#signer ??= this.#loadOrCreate().catch((e) => {
      this.#signer = undefined;
      throw e;
    });
    return this.#signer;
  }

  /** DER of the CA certificate (created on first use). */
  async certificate(): Promise<Uint8Array> {
    return (await this.signer()).certificate;
  }

  async #loadOrCreate(): Promise<Signer> {
    const { storage, template } = this.#opts;
    const rsa = this.#opts.keyKind === "RSA";
    const fresh = rsa ? await generateRsa2048() : await generateEd25519();
    const freshBytes = rsa ? await exportPkcs8(fresh.privateKey) : await exportGoEd25519(fresh);
    // Concurrent creators converge on whichever key reached storage first.
    const stored = await storage.createIfAbsent(privateKeyKey(this.name), freshBytes);
    const keys = rsa ? await importPkcs8(stored, "RSA") : await importGoEd25519(stored);
    let cert = await storage.get(certKey(this.name));
    if (cert && !(await sameKey(cert, keys.publicKey))) {
      throw new Error(`pki: CA "${this.name}": stored certificate does not match the stored key`);
    }
    if (!cert) {
      const issued = await issueCertificate(template, keys.publicKey, { selfSigned: keys });
      cert = await storage.createIfAbsent(certKey(this.name), issued);
    }
    return { certificate: cert, privateKey: keys.privateKey };
  }

  /**
   * Returns the certificate stored under `name` when it certifies `publicKey`; otherwise issues
   * one from `template`, stores it (replacing a certificate for another key) and returns it.
   */
  async ensure(name: string, template: CertTemplate, publicKey: CryptoKey): Promise<Uint8Array> {
    if (!/^[A-Za-z0-9._:-]+$/.test(name)) throw new Error(`pki: bad certificate name "${name}"`);
    if (name === this.name) throw new Error(`pki: "${name}" is the CA's own name`);
    const { storage } = this.#opts;
    const key = certKey(name);
    const existing = await storage.get(key);
    if (existing && await sameKey(existing, publicKey)) return existing;
    const issued = await issueCertificate(template, publicKey, await this.signer());
    if (!existing) {
      const won = await storage.createIfAbsent(key, issued);
      if (equalBytes(won, issued) || await sameKey(won, publicKey)) return won;
    }
    await storage.put(key, issued);
    return issued;
  }

  /** The certificate stored under `name`, if any (no issuance). */
  async issued(name: string): Promise<Uint8Array | undefined> {
    return await this.#opts.storage.get(certKey(name));
  }

  /** The CA's CRL (DER), creating an empty one on first use. */
  async crl(): Promise<Uint8Array> {
    const { storage } = this.#opts;
    const existing = await storage.get(crlKey(this.name));
    if (existing) return existing;
    return await storage.createIfAbsent(crlKey(this.name), await this.#makeCrl([]));
  }

  /** Adds the serial of `certDer` to the CA's CRL (idempotent) and returns the new CRL. */
  async revoke(certDer: Uint8Array): Promise<Uint8Array> {
    const x509 = await loadX509();
    const serial = new x509.X509Certificate(certDer as BufferSource).serialNumber;
    const current = new x509.X509Crl(await this.crl() as BufferSource);
    const serials = current.entries.map((e) => e.serialNumber);
    if (serials.includes(serial)) return new Uint8Array(current.rawData);
    const crl = await this.#makeCrl([...serials, serial]);
    await this.#opts.storage.put(crlKey(this.name), crl);
    return crl;
  }

  async #makeCrl(serials: string[]): Promise<Uint8Array> {
    const s = await this.signer();
    const x509 = await loadX509();
    const ca = new x509.X509Certificate(s.certificate as BufferSource);
    const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension);
    const crl = await x509.X509CrlGenerator.create({
      issuer: ca.subjectName,
      thisUpdate: new Date(),
      entries: serials.map((serialNumber) => ({ serialNumber, revocationDate: new Date() })),
      extensions: ski ? [new x509.AuthorityKeyIdentifierExtension(ski.keyId)] : [],
      signingAlgorithm: ca.signatureAlgorithm,
      signingKey: s.privateKey,
    });
    return new Uint8Array(crl.rawData);
  }
}

async function sameKey(certDer: Uint8Array, publicKey: CryptoKey): Promise<boolean> {
  const x509 = await loadX509();
  const c = new x509.X509Certificate(certDer as BufferSource);
  return equalBytes(new Uint8Array(c.publicKey.rawData), await exportSpki(publicKey));
}
