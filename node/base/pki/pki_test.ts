import assert from "node:assert/strict";
import {
  CA,
  certificateParts,
  certificatePem,
  certificatesFromPem,
  type CertTemplate,
  ChainError,
  crlKey,
  ed25519Seed,
  exportGoEd25519,
  exportPkcs8Pem,
  generateEd25519,
  generateRsa2048,
  importEd25519Public,
  importGoEd25519,
  importPkcs8Pem,
  issueCertificate,
  MemoryPkiStorage,
  parseCertificate,
  pemDecode,
  pemEncode,
  randomSerial,
  rawPublicKey,
  verifyChain,
  verifySelfSignature,
} from "./mod.ts";

const CA_TEMPLATE: CertTemplate = {
  commonName: "Test CA",
  isCA: true,
  keyUsage: ["certSign", "crlSign", "digitalSignature"],
  extKeyUsage: ["clientAuth", "serverAuth", "ocspSigning"],
};

const SERVER: CertTemplate = {
  commonName: "srv",
  dnsNames: ["srv.example"],
  ipAddresses: ["10.1.2.3", "::1"],
  keyUsage: ["digitalSignature", "keyEncipherment"],
  extKeyUsage: ["serverAuth"],
  isCA: false,
};

async function openssl(args: string[], files: Record<string, Uint8Array | string>) {
  const dir = await Deno.makeTempDir({ prefix: "pki-test-" });
  try {
    for (const [n, v] of Object.entries(files)) {
      await (typeof v === "string"
        ? Deno.writeTextFile(`${dir}/${n}`, v)
        : Deno.writeFile(`${dir}/${n}`, v));
    }
    const out = await new Deno.Command("openssl", { args, cwd: dir }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { ok: out.success, text };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("pem round trip and errors", () => {
  const der = crypto.getRandomValues(new Uint8Array(300));
  const pem = pemEncode("CERTIFICATE", der);
  assert.deepEqual(pemDecode(pem, "CERTIFICATE"), der);
  assert.ok(pem.split("\n").every((l) => l.length <= 64));
  assert.throws(() => pemDecode(pem, "PRIVATE KEY"), /exactly one "PRIVATE KEY" block, found 0/);
  assert.equal(certificatesFromPem(pem + pem).length, 2);
});

Deno.test("ed25519 keys: raw, PKCS#8 PEM, Go layout", async () => {
  const k = await generateEd25519();
  const raw = await rawPublicKey(k.publicKey);
  assert.equal(raw.length, 32);
  const back = await importPkcs8Pem(await exportPkcs8Pem(k.privateKey));
  assert.deepEqual(await rawPublicKey(back.publicKey), raw);
  const go = await exportGoEd25519(k);
  assert.equal(go.length, 64);
  const fromGo = await importGoEd25519(go);
  assert.deepEqual(await ed25519Seed(fromGo.privateKey), await ed25519Seed(k.privateKey));
  const bad = go.slice();
  bad[40] ^= 1;
  await assert.rejects(importGoEd25519(bad), /public half does not match/);
  await assert.rejects(importEd25519Public(new Uint8Array(31)), /32 bytes, got 31/);
  // Signatures made by the reimported key verify with the original public key.
  const msg = new TextEncoder().encode("hi");
  const sig = await crypto.subtle.sign("Ed25519", fromGo.privateKey, msg);
  assert.ok(await crypto.subtle.verify("Ed25519", k.publicKey, sig, msg));
});

Deno.test("random serials are positive and below 2^127", () => {
  for (let i = 0; i < 200; i++) {
    const s = randomSerial();
    assert.ok(s > 0n && s < 1n << 127n);
  }
});

Deno.test("CA issues, is idempotent, re-issues for another key; openssl agrees", async () => {
  const storage = new MemoryPkiStorage();
  const ca = new CA({ storage, name: "ca", template: CA_TEMPLATE });
  const caDer = await ca.certificate();
  assert.ok(storage.data.has("issued/ca-cert.der"));
  assert.equal(storage.data.get("keys/ca-privkey.bin")!.length, 64);
  const k = await generateEd25519();
  const t0 = Date.now();
  const a = await ca.ensure("srv", SERVER, k.publicKey);
  const b = await ca.ensure("srv", SERVER, k.publicKey);
  assert.deepEqual(a, b, "same key: stored certificate returned unchanged");
  const info = parseCertificate(a);
  const cai = parseCertificate(caDer);
  assert.deepEqual(info.commonNames, ["srv"]);
  assert.deepEqual(info.dnsNames, ["srv.example"]);
  assert.equal(info.ipAddresses.length, 2);
  assert.equal(info.isCA, false);
  assert.deepEqual(info.extKeyUsage, ["serverAuth"]);
  assert.deepEqual(info.keyUsage, ["digitalSignature", "keyEncipherment"]);
  assert.equal(info.notAfter.toISOString(), "9999-12-31T23:59:59.000Z");
  assert.ok(Math.abs(t0 - 5 * 60_000 - info.notBefore.getTime()) < 5000, "notBefore = now - 5m");
  assert.deepEqual(info.authorityKeyId, cai.subjectKeyId);
  assert.ok(cai.subjectKeyId && cai.isCA);
  assert.deepEqual(info.publicKey, await rawPublicKey(k.publicKey));
  assert.equal((await verifyChain(a, caDer)).commonNames[0], "srv");

  const k2 = await generateEd25519();
  const c = await ca.ensure("srv", SERVER, k2.publicKey);
  assert.notDeepEqual(c, a);
  assert.deepEqual(await ca.issued("srv"), c, "replaced in storage");

  // A second CA object over the same storage reuses key and certificate.
  const again = new CA({ storage, name: "ca", template: CA_TEMPLATE });
  assert.deepEqual(await again.certificate(), caDer);

  const v = await openssl(["verify", "-CAfile", "ca.pem", "leaf.pem"], {
    "ca.pem": certificatePem(caDer),
    "leaf.pem": certificatePem(c),
  });
  assert.ok(v.ok, v.text);
  const text = await openssl(["x509", "-in", "leaf.pem", "-noout", "-text"], {
    "leaf.pem": certificatePem(c),
  });
  assert.match(text.text, /IP Address:10\.1\.2\.3/);
  assert.match(text.text, /TLS Web Server Authentication/);
  assert.match(text.text, /Not After : Dec 31 23:59:59 9999 GMT/);
});

Deno.test("verifyChain rejects a certificate of another CA; openssl agrees", async () => {
  const ca1 = new CA({ storage: new MemoryPkiStorage(), name: "ca", template: CA_TEMPLATE });
  const ca2 = new CA({ storage: new MemoryPkiStorage(), name: "ca", template: CA_TEMPLATE });
  const k = await generateEd25519();
  const forged = await ca2.ensure("x", SERVER, k.publicKey);
  await assert.rejects(verifyChain(forged, await ca1.certificate()), (e) => {
    assert.ok(e instanceof ChainError);
    assert.equal(e.reason, "not signed by the CA");
    return true;
  });
  const v = await openssl(["verify", "-CAfile", "ca.pem", "leaf.pem"], {
    "ca.pem": certificatePem(await ca1.certificate()),
    "leaf.pem": certificatePem(forged),
  });
  assert.equal(v.ok, false);
  await assert.rejects(verifyChain(forged, forged), /not a CA/);
});

Deno.test("concurrent CA creation converges on one key", async () => {
  const storage = new MemoryPkiStorage();
  const cas = [0, 1, 2].map(() => new CA({ storage, name: "ca", template: CA_TEMPLATE }));
  const certs = await Promise.all(cas.map((c) => c.certificate()));
  assert.deepEqual(certs[0], certs[1]);
  assert.deepEqual(certs[1], certs[2]);
});

Deno.test("RSA-2048 key with O= subject, self-signed, openssl reads it", async () => {
  const k = await generateRsa2048();
  const der = await issueCertificate(
    { commonName: "admin", organization: ["system:masters"], isCA: true, keyUsage: ["certSign"] },
    k.publicKey,
    { selfSigned: k },
  );
  const info = parseCertificate(der);
  assert.equal(info.keyAlgorithm, "RSASSA-PKCS1-v1_5");
  assert.deepEqual(info.organization, ["system:masters"]);
  assert.ok(await verifySelfSignature(der));
  const t = await openssl(["x509", "-in", "c.pem", "-noout", "-text"], {
    "c.pem": certificatePem(der),
  });
  assert.match(t.text, /Public-Key: \(2048 bit\)/);
  assert.match(t.text, /Subject: O ?= ?system:masters, CN ?= ?admin/);
  const back = await importPkcs8Pem(await exportPkcs8Pem(k.privateKey), "RSA");
  assert.equal(back.publicKey.algorithm.name, "RSASSA-PKCS1-v1_5");
});

Deno.test("RSA CA signs an Ed25519 leaf", async () => {
  const ca = new CA({
    storage: new MemoryPkiStorage(),
    name: "rsa-ca",
    template: CA_TEMPLATE,
    keyKind: "RSA",
  });
  const k = await generateEd25519();
  const leaf = await ca.ensure("leaf", SERVER, k.publicKey);
  await verifyChain(leaf, await ca.certificate());
});

Deno.test("CRL: empty at first, revoke adds the serial; openssl verifies it", async () => {
  const storage = new MemoryPkiStorage();
  const ca = new CA({ storage, name: "ca", template: CA_TEMPLATE });
  const k = await generateEd25519();
  const leaf = await ca.ensure("n1", SERVER, k.publicKey);
  await ca.crl();
  assert.ok(storage.data.has(crlKey("ca")));
  const crl = await ca.revoke(leaf);
  assert.deepEqual(await ca.revoke(leaf), crl, "idempotent");
  const out = await openssl(
    ["crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "ca.pem", "-noout", "-text"],
    { "crl.der": crl, "ca.pem": certificatePem(await ca.certificate()) },
  );
  assert.match(out.text, /verify OK/);
  const serial = parseCertificate(leaf).serial.toString(16).toUpperCase();
  assert.ok(out.text.replace(/[:\s]/g, "").toUpperCase().includes(serial), out.text);
});

Deno.test("certificateParts splits signed bytes, algorithm and signature; malformed gives undefined", async () => {
  const ca = new CA({ storage: new MemoryPkiStorage(), name: "ca", template: CA_TEMPLATE });
  const k = await generateEd25519();
  const leaf = await ca.ensure("x", SERVER, k.publicKey);
  const parts = certificateParts(leaf)!;
  assert.deepEqual([...parts.algorithm], [0x06, 0x03, 0x2b, 0x65, 0x70]);
  assert.equal(parts.signature.length, 64);
  const caKey = await crypto.subtle.importKey(
    "raw",
    parseCertificate(await ca.certificate()).publicKey as BufferSource,
    "Ed25519",
    false,
    ["verify"],
  );
  assert.ok(
    await crypto.subtle.verify(
      "Ed25519",
      caKey,
      parts.signature as BufferSource,
      parts.tbs as BufferSource,
    ),
  );
  assert.equal(certificateParts(leaf.subarray(0, leaf.length - 1)), undefined);
  assert.equal(certificateParts(Uint8Array.of(0x30, 0x00)), undefined);
  assert.equal(certificateParts(new Uint8Array(0)), undefined);
});

Deno.test("verifyChain rejects a flipped bit in the signature or the signed bytes", async () => {
  const ca = new CA({ storage: new MemoryPkiStorage(), name: "ca", template: CA_TEMPLATE });
  const k = await generateEd25519();
  const leaf = await ca.ensure("x", SERVER, k.publicKey);
  const caDer = await ca.certificate();
  const badSig = leaf.slice();
  badSig[badSig.length - 1] ^= 1;
  await assert.rejects(verifyChain(badSig, caDer), /not signed by the CA/);
  // A byte of the subject key inside tbsCertificate: still parses, no longer verifies.
  const badTbs = leaf.slice();
  const at = indexOfBytes(badTbs, parseCertificate(leaf).publicKey);
  assert.ok(at > 0 && at < certificateParts(leaf)!.tbs.length);
  badTbs[at] ^= 1;
  await assert.rejects(verifyChain(badTbs, caDer), /not signed by the CA/);
  // The caller's parsed leaf is used as is; a parsed leaf of other bytes is not.
  const info = parseCertificate(leaf);
  assert.equal(await verifyChain(leaf, caDer, { leaf: info }), info);
  await assert.rejects(verifyChain(badSig, caDer, { leaf: info }), /not signed by the CA/);
});

/** Where `needle` starts in `hay`, or -1. */
function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

Deno.test("verifyChain rejects the malleated signature S + L of a valid one (non-canonical S)", async () => {
  const ca = new CA({ storage: new MemoryPkiStorage(), name: "ca", template: CA_TEMPLATE });
  const k = await generateEd25519();
  const leaf = await ca.ensure("x", SERVER, k.publicKey);
  const caDer = await ca.certificate();
  await verifyChain(leaf, caDer);
  // The signature's last 32 bytes are S, little-endian; L is the order of the Ed25519 group.
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const sig = certificateParts(leaf)!.signature;
  const s = sig.subarray(32);
  let n = 0n;
  for (let i = 31; i >= 0; i--) n = n * 256n + BigInt(s[i]);
  n += L;
  const bad = leaf.slice();
  const at = bad.length - 32;
  for (let i = 0; i < 32; i++, n >>= 8n) bad[at + i] = Number(n & 0xffn);
  await assert.rejects(verifyChain(bad, caDer), /not signed by the CA/);
});
