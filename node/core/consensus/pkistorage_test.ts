import assert from "node:assert/strict";
import { CA } from "../../base/pki/ca.ts";
import type { CertTemplate } from "../../base/pki/cert.ts";
import { generateEd25519 } from "../../base/pki/keys.ts";
import { parseCertificate } from "../../base/pki/info.ts";
import { EtcdPkiStorage } from "./pkistorage.ts";
import { startTestEtcd } from "./testing.ts";

Deno.test("EtcdPkiStorage: CA created once across concurrent users, issuance idempotent", async () => {
  const etcd = await startTestEtcd();
  try {
    const kv = etcd.kv.namespace("curator/cluster-pki/");
    const template = {
      commonName: "Metropolis Cluster CA",
      isCA: true,
      keyUsage: ["certSign", "crlSign", "digitalSignature"],
    } as CertTemplate;
    // Two CA objects (as on two nodes) racing to create the CA converge on one key.
    const a = new CA({ storage: new EtcdPkiStorage(kv), name: "ca", template });
    const b = new CA({ storage: new EtcdPkiStorage(kv), name: "ca", template });
    const [ca1, ca2] = await Promise.all([a.certificate(), b.certificate()]);
    assert.deepEqual(ca1, ca2);
    assert.deepEqual(parseCertificate(ca1).commonNames, ["Metropolis Cluster CA"]);
    const keys = (await kv.list("keys/")).entries.map((e) => e.key);
    assert.deepEqual(keys, ["keys/ca-privkey.bin"]);
    assert.ok(await kv.get("issued/ca-cert.der"));
    // Issuance is idempotent per name and public key, and survives a fresh CA object.
    const leaf = await generateEd25519();
    const tmpl: CertTemplate = {
      commonName: "leaf",
      isCA: false,
      keyUsage: ["digitalSignature"],
      extKeyUsage: ["serverAuth"],
    };
    const c1 = await a.ensure("leaf", tmpl, leaf.publicKey);
    const c2 = await b.ensure("leaf", tmpl, leaf.publicKey);
    assert.deepEqual(c1, c2);
    const other = await generateEd25519();
    const c3 = await b.ensure("leaf", tmpl, other.publicKey);
    assert.notDeepEqual(c1, c3);
  } finally {
    await etcd.stop();
  }
});
