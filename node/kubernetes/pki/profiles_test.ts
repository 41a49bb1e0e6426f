import assert from "node:assert/strict";
import {
  generateEd25519,
  issueCertificate,
  parseCertificate,
  type Signer,
} from "../../base/pki/mod.ts";
import { apiserverServing, ID_CA, kubeletClient, PROFILES } from "./profiles.ts";
import { renderKubeconfig } from "./kubeconfig.ts";

async function issue(t: Parameters<typeof issueCertificate>[0], ca: Signer) {
  const k = await generateEd25519();
  return parseCertificate(await issueCertificate(t, k.publicKey, ca));
}

Deno.test("kubernetes PKI profiles: subjects, SANs and usages of kubernetes.md §4", async () => {
  const caKeys = await generateEd25519();
  const ca: Signer = {
    certificate: await issueCertificate(ID_CA, caKeys.publicKey, { selfSigned: caKeys }),
    privateKey: caKeys.privateKey,
  };
  assert.deepEqual(parseCertificate(ca.certificate).commonNames, ["Metropolis Kubernetes ID CA"]);
  const api = await issue(apiserverServing(["192.0.2.7"]), ca);
  assert.ok(api.dnsNames.includes("kubernetes.default.svc.cluster.local"));
  assert.deepEqual(api.ipAddresses, ["10.224.0.1", "127.0.0.1", "192.0.2.7"]);
  assert.deepEqual(api.extKeyUsage, ["serverAuth"]);
  const master = await issue(PROFILES.master, ca);
  assert.deepEqual(master.organization, ["system:masters"]);
  assert.deepEqual(master.extKeyUsage, ["clientAuth"]);
  const kubelet = await issue(kubeletClient("metropolis-abc"), ca);
  assert.deepEqual(kubelet.commonNames, ["system:node:metropolis-abc"]);
  assert.deepEqual(kubelet.organization, ["system:nodes"]);
});

Deno.test("kubeconfig: inline data, https only", () => {
  const kc = JSON.parse(renderKubeconfig({
    server: "https://127.0.0.1:6443",
    caPem: "CA",
    certPem: "C",
    keyPem: "K",
  }));
  assert.equal(kc.clusters[0].cluster["certificate-authority-data"], btoa("CA"));
  assert.equal(kc.users[0].user["client-key-data"], btoa("K"));
  assert.throws(
    () => renderKubeconfig({ server: "http://x:1", caPem: "", certPem: "", keyPem: "" }),
    /server must be https/,
  );
});
