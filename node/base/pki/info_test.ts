/**
 * parseCertificate (our DER reader) against @peculiar/x509 on the same certificates: every field
 * of CertInfo must agree. The reference below is how the project read certificates before.
 */
import assert from "node:assert/strict";
import { type CertInfo, parseCertificate } from "./info.ts";
import { issueCertificate } from "./cert.ts";
import { loadX509 } from "./x509.ts";

const x509 = await loadX509();

const EKU: Record<string, string> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
  "1.3.6.1.5.5.7.3.3": "codeSigning",
  "1.3.6.1.5.5.7.3.9": "ocspSigning",
};
const KU: [number, string][] = [
  [x509.KeyUsageFlags.digitalSignature, "digitalSignature"],
  [x509.KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [x509.KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [x509.KeyUsageFlags.keyAgreement, "keyAgreement"],
  [x509.KeyUsageFlags.keyCertSign, "certSign"],
  [x509.KeyUsageFlags.cRLSign, "crlSign"],
];
const fromHex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));

function reference(der: Uint8Array): CertInfo {
  const c = new x509.X509Certificate(der as BufferSource);
  const spki = new Uint8Array(c.publicKey.rawData);
  const alg = (c.publicKey.algorithm as Algorithm).name;
  const ed = alg === "Ed25519" || alg === "1.3.101.112";
  const bc = c.getExtension(x509.BasicConstraintsExtension);
  const ku = c.getExtension(x509.KeyUsagesExtension);
  const eku = c.getExtension(x509.ExtendedKeyUsageExtension);
  const san = c.getExtension(x509.SubjectAlternativeNameExtension);
  const ski = c.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = c.getExtension(x509.AuthorityKeyIdentifierExtension);
  const names = san?.names.toJSON() ?? [];
  return {
    der: new Uint8Array(c.rawData),
    serial: BigInt("0x" + (c.serialNumber || "0")),
    commonNames: c.subjectName.getField("CN"),
    organization: c.subjectName.getField("O"),
    subject: c.subject,
    issuer: c.issuer,
    dnsNames: names.filter((n) => n.type === "dns").map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === "ip").map((n) => n.value),
    isCA: bc?.ca ?? false,
    keyUsage: ku ? KU.filter(([f]) => ku.usages & f).map(([, n]) => n) as never : undefined,
    extKeyUsage: eku ? Array.from(eku.usages, (u) => EKU[u as string] ?? (u as string)) : undefined,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    keyAlgorithm: ed ? "Ed25519" : alg === "1.2.840.10045.2.1" ? "ECDSA" : alg,
    publicKey: ed ? spki.slice(spki.length - 32) : spki,
    subjectKeyId: ski ? fromHex(ski.keyId) : undefined,
    authorityKeyId: aki?.keyId ? fromHex(aki.keyId) : undefined,
  };
}

const ed = () =>
  crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"]) as Promise<CryptoKeyPair>;

async function corpus(): Promise<Uint8Array[]> {
  const caKeys = await ed();
  const ca = await issueCertificate(
    { commonName: "Metropolis Cluster CA", keyUsage: ["certSign", "crlSign"], isCA: true },
    caKeys.publicKey,
    { selfSigned: caKeys },
  );
  const signer = { certificate: ca, privateKey: caKeys.privateKey };
  const leafKeys = await ed();
  const issue = (t: Parameters<typeof issueCertificate>[0]) =>
    issueCertificate(t, leafKeys.publicKey, signer);
  const out = [ca];
  out.push(
    await issue({
      commonName: "metropolis-0123456789abcdef",
      keyUsage: ["digitalSignature"],
      extKeyUsage: ["serverAuth", "clientAuth"],
      dnsNames: ["metropolis-0123456789abcdef", "localhost"],
      ipAddresses: ["10.1.0.2", "127.0.0.1", "2001:db8::1", "fe80:0:0:1::", "1:2:3:4:5:6:7:8"],
      isCA: false,
    }),
    await issue({
      commonName: "owner",
      organization: ["system:masters", "a, b+c"],
      keyUsage: ["digitalSignature", "keyEncipherment"],
      extKeyUsage: ["clientAuth"],
      isCA: false,
      serial: 1n,
      notBefore: new Date("1999-01-02T03:04:05Z"),
      notAfter: new Date("2049-12-31T23:59:59Z"),
      subjectKeyId: true,
    }),
    await issue({ keyUsage: [], isCA: false, notAfter: new Date("2050-01-01T00:00:00Z") }),
  );
  // Names the project never writes, through @peculiar's generator directly.
  for (
    const name of ["CN=x+OU=y, O=z\\, inc", "O=a#b, CN=\\ lead", "2.5.4.5=123, E=x@y", "CN=é€"]
  ) {
    const c = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "00ff01",
      name,
      notBefore: new Date("2020-01-01T00:00:00Z"),
      notAfter: new Date("2030-01-01T00:00:00Z"),
      keys: leafKeys,
      signingAlgorithm: { name: "Ed25519" },
    });
    out.push(new Uint8Array(c.rawData));
  }
  const ec = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const ecCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "02",
    name: "CN=ecdsa",
    keys: ec,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  out.push(new Uint8Array(ecCert.rawData));
  return out;
}

Deno.test("parseCertificate: every field agrees with @peculiar/x509 on CA, node, user and odd certificates", async () => {
  for (const der of await corpus()) {
    assert.deepEqual(parseCertificate(der), reference(der));
  }
});

Deno.test("parseCertificate: truncated or corrupted input is 'pki: not a certificate', never another error", async () => {
  const [, node] = await corpus();
  for (let n = 0; n < node.length; n++) {
    assert.throws(() => parseCertificate(node.subarray(0, n)), /^Error: pki: not a certificate: /);
  }
  assert.throws(() => parseCertificate(new Uint8Array([...node, 0])), /trailing bytes/);
  // Every single-byte corruption either still parses or is refused with the one error.
  for (let i = 0; i < node.length; i++) {
    for (const x of [0x00, 0xff, node[i] ^ 0x80]) {
      const bad = node.slice();
      bad[i] = x;
      try {
        parseCertificate(bad);
      } catch (e) {
        assert.match(String(e), /^Error: pki: not a certificate: /, `byte ${i} = ${x}`);
      }
    }
  }
});
