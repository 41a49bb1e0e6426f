import assert from "node:assert/strict";
import {
  CA,
  certificatePem,
  generateEd25519,
  MemoryPkiStorage,
  rawPublicKey,
} from "../../base/pki/mod.ts";
import { issueCertificate } from "../../base/pki/cert.ts";
import {
  CLUSTER_CA_TEMPLATE,
  ephemeralCertificate,
  IdentityError,
  isNodeId,
  nodeId,
  nodeTemplate,
  nodeTemplateFor,
  singleCertificate,
  userTemplate,
  verifyNodeCertificate,
  verifySelfSigned,
  verifyUserCertificate,
} from "./mod.ts";

async function openssl(args: string[], files: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "identity-test-" });
  try {
    for (const [n, v] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${n}`, v);
    const out = await new Deno.Command("openssl", { args, cwd: dir }).output();
    return {
      ok: out.success,
      text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function newCA() {
  return new CA({ storage: new MemoryPkiStorage(), name: "ca", template: CLUSTER_CA_TEMPLATE });
}

async function rejectsWith(p: Promise<unknown>, reason: RegExp) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof IdentityError, String(e));
    assert.match(e.reason, reason);
    return true;
  });
}

Deno.test("node ID: prefix + hex of the first 16 key bytes", () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  const id = nodeId(key);
  assert.equal(id, "metropolis-000102030405060708090a0b0c0d0e0f");
  assert.equal(id.length, 43);
  assert.ok(isNodeId(id));
  assert.ok(!isNodeId("metropolis-XYZ"));
  assert.throws(() => nodeId(new Uint8Array(16)), /32 bytes, got 16/);
});

Deno.test("node certificate verifies as node, not as user; openssl agrees", async () => {
  const ca = newCA();
  const k = await generateEd25519();
  const id = nodeId(await rawPublicKey(k.publicKey));
  const der = await ca.ensure(id, await nodeTemplateFor(k.publicKey), k.publicKey);
  const caDer = await ca.certificate();
  const n = await verifyNodeCertificate(der, caDer);
  assert.equal(n.nodeId, id);
  assert.deepEqual(n.publicKey, await rawPublicKey(k.publicKey));
  await rejectsWith(verifyUserCertificate(der, caDer), /EKU lacks clientAuth/);
  const files = { "ca.pem": certificatePem(caDer), "n.pem": certificatePem(der) };
  const v = await openssl(["verify", "-purpose", "sslserver", "-CAfile", "ca.pem", "n.pem"], files);
  assert.ok(v.ok, v.text);
  const t = await openssl(["x509", "-in", "n.pem", "-noout", "-text"], files);
  assert.match(t.text, new RegExp(`Subject: CN ?= ?${id}\\n`));
  assert.match(t.text, new RegExp(`DNS:${id}\\n`));
  assert.doesNotMatch(t.text, /IP Address/);
  assert.match(t.text, /Digital Signature, Key Encipherment/);
  assert.match(t.text, /X509v3 Extended Key Usage: *\n *TLS Web Server Authentication\n/);
  assert.match(t.text, /X509v3 Authority Key Identifier/);
  const c = await openssl(["x509", "-in", "ca.pem", "-noout", "-text"], files);
  assert.match(c.text, /Subject: CN ?= ?Metropolis Cluster CA/);
  assert.match(c.text, /CA:TRUE/);
  assert.match(c.text, /Digital Signature, Certificate Sign, CRL Sign/);
  assert.match(
    c.text,
    /TLS Web Client Authentication, TLS Web Server Authentication, OCSP Signing/,
  );
});

Deno.test("user certificate verifies as user, not as node", async () => {
  const ca = newCA();
  const k = await generateEd25519();
  const der = await ca.ensure("owner", userTemplate("owner"), k.publicKey);
  const u = await verifyUserCertificate(der, await ca.certificate());
  assert.equal(u.identity, "owner");
  await rejectsWith(verifyNodeCertificate(der, await ca.certificate()), /EKU lacks serverAuth/);
});

Deno.test("node verification failures give one-line reasons", async () => {
  const ca = newCA();
  const other = newCA();
  const caDer = await ca.certificate();
  const k = await generateEd25519();
  // Forged: right profile, other CA.
  const forged = await other.ensure("n", await nodeTemplateFor(k.publicKey), k.publicKey);
  await rejectsWith(verifyNodeCertificate(forged, caDer), /not signed by the CA/);
  // CN of another node.
  const wrongId = await ca.ensure("w", nodeTemplate("metropolis-" + "0".repeat(32)), k.publicKey);
  await rejectsWith(verifyNodeCertificate(wrongId, caDer), /is not the node ID/);
  // P-256 key signed by the CA.
  const ec = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const ecCert = await ca.ensure("ec", nodeTemplate("metropolis-x"), ec.publicKey);
  await rejectsWith(verifyNodeCertificate(ecCert, caDer), /key is ECDSA, not Ed25519/);
  await rejectsWith(verifyUserCertificate(ecCert, caDer), /not Ed25519/);
  // The CA itself.
  await rejectsWith(verifyUserCertificate(caDer, caDer), /is a CA/);
  // Garbage.
  await rejectsWith(verifyNodeCertificate(new Uint8Array([1, 2, 3]), caDer), /does not parse/);
  assert.throws(() => singleCertificate([]), /exactly one certificate expected, got 0/);
  assert.throws(() => singleCertificate([caDer, caDer]), /got 2/);
});

Deno.test("ephemeral certificate: exact profile, self-signature verifies", async () => {
  const k = await generateEd25519();
  const der = await ephemeralCertificate(k);
  const { publicKey } = await verifySelfSigned(der);
  assert.deepEqual(publicKey, await rawPublicKey(k.publicKey));
  const t = await openssl(["x509", "-in", "e.pem", "-noout", "-text"], {
    "e.pem": certificatePem(der),
  });
  assert.match(t.text, /Serial Number: 1 \(0x1\)/);
  assert.match(t.text, /Issuer: *\n/);
  assert.match(t.text, /Subject: *\n/);
  assert.match(t.text, /Not After : Dec 31 23:59:59 9999 GMT/);
  assert.match(t.text, /Basic Constraints: critical\n *CA:FALSE/);
  assert.match(t.text, /Digital Signature, Key Encipherment, Certificate Sign/);
  assert.match(t.text, /Extended Key Usage: *\n *TLS Web Client Authentication\n/);
  // A certificate signed by someone else is not self-signed.
  const other = await generateEd25519();
  const tampered = await issueCertificate({ isCA: true, keyUsage: ["certSign"] }, k.publicKey, {
    certificate: await issueCertificate({ isCA: true, keyUsage: ["certSign"] }, other.publicKey, {
      selfSigned: other,
    }),
    privateKey: other.privateKey,
  });
  await rejectsWith(verifySelfSigned(tampered), /self-signature does not verify/);
});
