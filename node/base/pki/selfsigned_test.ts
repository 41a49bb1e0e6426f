/** selfsigned.ts writes what @peculiar/x509 writes for the same template, without loading it. */
import assert from "node:assert/strict";
import type { CertTemplate } from "./cert.ts";
import { generateEd25519 } from "./keys.ts";
import { parseCertificate } from "./info.ts";
import { verifySelfSignature } from "./verify.ts";
import { loadX509 } from "./x509.ts";
import { isPlainSelfSigned, selfSignedEd25519 } from "./selfsigned.ts";

/** The DER @peculiar/x509 writes for a plain self-signed template (cert.ts's library path). */
async function libraryDer(
  t: CertTemplate,
  keys: CryptoKeyPair,
  serial: bigint,
  notBefore: Date,
  notAfter: Date,
): Promise<Uint8Array> {
  const x509 = await loadX509();
  const bits = { digitalSignature: 0, keyEncipherment: 2, dataEncipherment: 3, keyAgreement: 4 };
  const flags = t.keyUsage.reduce(
    (f, u) => f | (1 << ({ ...bits, certSign: 5, crlSign: 6 })[u]),
    0,
  );
  const eku = { serverAuth: "1.3.6.1.5.5.7.3.1", clientAuth: "1.3.6.1.5.5.7.3.2" } as const;
  let hex = serial.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: hex,
    subject: [],
    issuer: [],
    notBefore,
    notAfter,
    signingAlgorithm: { name: "Ed25519" },
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(t.isCA, undefined, true),
      ...(flags ? [new x509.KeyUsagesExtension(flags, true)] : []),
      ...(t.extKeyUsage?.length
        ? [
          new x509.ExtendedKeyUsageExtension(
            t.extKeyUsage.map((u) => eku[u as keyof typeof eku]),
          ),
        ]
        : []),
    ],
  });
  return new Uint8Array(cert.rawData);
}

/** Template, serial, notBefore, notAfter. Ed25519 signatures are deterministic: whole DERs compare. */
const CASES: [string, CertTemplate, bigint, Date, Date][] = [
  [
    "the ephemeral profile",
    {
      serial: 1n,
      isCA: false,
      keyUsage: ["keyEncipherment", "digitalSignature", "certSign"],
      extKeyUsage: ["clientAuth"],
    },
    1n,
    new Date("2026-12-02T22:00:00.123Z"),
    new Date("9999-12-31T23:59:59Z"),
  ],
  [
    "a high-bit serial, UTCTime on both ends, two purposes",
    {
      isCA: false,
      keyUsage: ["digitalSignature", "crlSign"],
      extKeyUsage: ["serverAuth", "clientAuth"],
    },
    0x80ff_0000_0000_0001n,
    new Date("1999-01-01T00:00:00Z"),
    new Date("2049-12-31T23:59:59Z"),
  ],
  ["no key usage, no purposes", { isCA: false, keyUsage: [] }, 300n, new Date(0), new Date(1e12)],
];

for (const [what, t, serial, nb, na] of CASES) {
  Deno.test(`selfSignedEd25519 writes @peculiar/x509's bytes: ${what}`, async () => {
    const keys = await generateEd25519();
    const ours = await selfSignedEd25519(t, keys, serial, nb, na);
    const lib = await libraryDer(t, keys, serial, nb, na);
    assert.deepEqual(ours, lib);
    assert.ok(await verifySelfSignature(ours));
    const info = parseCertificate(ours);
    assert.equal(info.serial, serial);
    assert.equal(info.isCA, false);
  });
}

Deno.test("selfSignedEd25519 refuses templates with names or key identifiers", async () => {
  const keys = await generateEd25519();
  const at = new Date();
  for (
    const t of [
      { isCA: false, keyUsage: [], commonName: "x" },
      { isCA: false, keyUsage: [], dnsNames: ["x"] },
      { isCA: true, keyUsage: [] },
      { isCA: false, keyUsage: [], subjectKeyId: true },
    ] as CertTemplate[]
  ) {
    assert.equal(isPlainSelfSigned(t), false);
    await assert.rejects(selfSignedEd25519(t, keys, 1n, at, at), /names or key identifiers/);
  }
  await assert.rejects(
    selfSignedEd25519({ isCA: false, keyUsage: ["bogus" as "certSign"] }, keys, 1n, at, at),
    /unknown key usage "bogus"/,
  );
});
