import assert from "node:assert/strict";
import tls from "node:tls";
import type net from "node:net";
import { chainFromPeerCertificate, peerChain } from "./peers.ts";
import { certificatePem } from "../../base/pki/info.ts";
import { exportPkcs8Pem } from "../../base/pki/keys.ts";
import { testCA, testNodeCert } from "../identity/testing.ts";

Deno.test("peerChain gives the certificates a client sent, as getPeerCertificate does", async () => {
  const ca = testCA();
  const server = await testNodeCert(ca);
  const client = await testNodeCert(ca);
  const caCert = await ca.certificate();
  const clientKey = await exportPkcs8Pem(client.privateKey);
  const seen: { fast: Uint8Array[]; legacy: Uint8Array[]; raw: boolean }[] = [];
  const srv = tls.createServer({
    cert: certificatePem(server.certificate),
    key: await exportPkcs8Pem(server.privateKey),
    requestCert: true,
    rejectUnauthorized: false,
  }, (s) => {
    seen.push({
      fast: peerChain(s),
      legacy: chainFromPeerCertificate(s.getPeerCertificate(true)),
      // The pinned Deno has the handle's method; without it the fast path would go untested.
      raw: typeof (s as unknown as { _handle: Record<string, unknown> })._handle
        .getPeerCertificateChain === "function",
    });
    s.end();
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  const cases = [
    { sent: [client.certificate, caCert], opts: { key: clientKey } },
    { sent: [client.certificate], opts: { key: clientKey } },
    { sent: [], opts: {} },
  ];
  try {
    for (const { sent, opts } of cases) {
      const cert = sent.map(certificatePem).join("");
      const c = tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false, ...opts, cert });
      await new Promise<void>((r) => c.on("close", () => r()).on("error", () => {}).resume());
    }
  } finally {
    await new Promise((r) => srv.close(r));
  }
  assert.equal(seen.length, cases.length);
  cases.forEach(({ sent }, i) => {
    assert.deepEqual(seen[i].fast, sent, `case ${i}`);
    assert.deepEqual(seen[i].legacy, sent, `case ${i}`);
    assert.ok(seen[i].raw, "Deno's TLS handle offers getPeerCertificateChain");
  });
});

Deno.test("peerChain falls back to getPeerCertificate without Deno's handle method", () => {
  const der = Uint8Array.of(1, 2, 3);
  const legacy = { raw: der, issuerCertificate: undefined };
  assert.deepEqual(peerChain({ _handle: {}, getPeerCertificate: () => legacy }), [der]);
  assert.deepEqual(peerChain({ getPeerCertificate: () => ({}) }), []);
});
