import assert from "node:assert/strict";
import { generateEd25519 } from "../../base/pki/keys.ts";
import { certificatePem, type CertInfo, parseCertificate } from "../../base/pki/info.ts";
import { MemoryPkiStorage } from "../../base/pki/storage.ts";
import { verifyChain } from "../../base/pki/verify.ts";
import {
  CONTROLLER_PROFILES,
  type ControllerCertName,
  kubeCA,
  workerTemplates,
} from "./kubepki.ts";

/** Issues every fixed controller certificate and the worker ones of node `n1` from fresh CAs. */
async function issueAll() {
  const storage = new MemoryPkiStorage();
  const cas = {
    "id-ca": kubeCA(storage, "id-ca"),
    "aggregation-ca": kubeCA(storage, "aggregation-ca"),
  };
  const out = new Map<string, CertInfo>();
  for (const [name, p] of Object.entries(CONTROLLER_PROFILES)) {
    const k = await generateEd25519();
    out.set(name, parseCertificate(await cas[p.issuer].ensure(name, p.template, k.publicKey)));
  }
  for (const [name, t] of Object.entries(workerTemplates("metropolis-n1"))) {
    const k = await generateEd25519();
    out.set(name, parseCertificate(await cas["id-ca"].ensure(name, t, k.publicKey)));
  }
  return {
    certs: out,
    idCa: parseCertificate(await cas["id-ca"].certificate()),
    aggCa: parseCertificate(await cas["aggregation-ca"].certificate()),
  };
}

Deno.test("kubernetes PKI: subjects and SANs are those of kubernetes.md §4", async () => {
  const { certs, idCa, aggCa } = await issueAll();
  const subject = (n: string) => {
    const c = certs.get(n)!;
    return { cn: c.commonNames, o: c.organization };
  };
  assert.deepEqual(idCa.commonNames, ["Metropolis Kubernetes ID CA"]);
  assert.deepEqual(aggCa.commonNames, ["Metropolis OpenAPI Aggregation CA"]);
  const api = certs.get("apiserver")!;
  assert.deepEqual(api.commonNames, []);
  assert.deepEqual(api.dnsNames, [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
    "metropolis-kube-apiserver",
  ]);
  assert.deepEqual(api.ipAddresses, ["10.224.0.1", "127.0.0.1"]);
  assert.deepEqual(subject("apiserver-kubelet-client"), {
    cn: ["metropolis:apiserver-kubelet-client"],
    o: [],
  });
  assert.deepEqual(subject("controller-manager-client").cn, ["system:kube-controller-manager"]);
  assert.deepEqual(certs.get("controller-manager")!.dnsNames, ["kube-controller-manager.local"]);
  assert.deepEqual(subject("scheduler-client").cn, ["system:kube-scheduler"]);
  assert.deepEqual(certs.get("scheduler")!.dnsNames, ["kube-scheduler.local"]);
  assert.deepEqual(subject("master"), { cn: ["metropolis:master"], o: ["system:masters"] });
  assert.deepEqual(subject("front-proxy-client").cn, ["front-proxy-client"]);
  assert.deepEqual(subject("metropolis-auth-proxy-client").cn, ["metropolis-auth-proxy-client"]);
  assert.deepEqual(certs.get("kubeletServer")!.dnsNames, ["metropolis-n1"]);
  assert.deepEqual(subject("kubeletClient"), {
    cn: ["system:node:metropolis-n1"],
    o: ["system:nodes"],
  });
  assert.deepEqual(subject("csiProvisioner"), {
    cn: ["metropolis:csi-provisioner:metropolis-n1"],
    o: ["metropolis:csi-provisioner"],
  });
  assert.deepEqual(subject("netservices"), {
    cn: ["metropolis:netservices:metropolis-n1"],
    o: ["metropolis:netservices"],
  });
});

Deno.test("kubernetes PKI: one shape of usages and key IDs for every certificate", async () => {
  const { certs, idCa, aggCa } = await issueAll();
  for (const c of [idCa, aggCa]) {
    assert.equal(c.isCA, true);
    assert.deepEqual(c.keyUsage, ["digitalSignature", "certSign", "crlSign"]);
    assert.deepEqual(c.extKeyUsage, ["clientAuth", "serverAuth"]);
    assert.ok(c.subjectKeyId?.length);
  }
  const servers = new Set(["apiserver", "controller-manager", "scheduler", "kubeletServer"]);
  for (const [name, c] of certs) {
    assert.equal(c.isCA, false, name);
    assert.deepEqual(c.keyUsage, ["digitalSignature"], name);
    assert.deepEqual(c.extKeyUsage, [servers.has(name) ? "serverAuth" : "clientAuth"], name);
    assert.ok(c.subjectKeyId?.length, `${name} has a SubjectKeyIdentifier`);
    // Leaves name their issuer's key, so chains build by key ID.
    const issuer = name === "front-proxy-client" || name === "metropolis-auth-proxy-client"
      ? aggCa
      : idCa;
    assert.deepEqual(c.authorityKeyId, issuer.subjectKeyId, name);
    assert.equal(c.issuer, issuer.subject, name);
  }
});

Deno.test("kubernetes PKI: every controller certificate chains to the CA its profile names", async () => {
  const storage = new MemoryPkiStorage();
  const names = Object.keys(CONTROLLER_PROFILES) as ControllerCertName[];
  for (const name of names) {
    const p = CONTROLLER_PROFILES[name];
    const ca = kubeCA(storage, p.issuer);
    const k = await generateEd25519();
    const der = await ca.ensure(name, p.template, k.publicKey);
    await verifyChain(der, await ca.certificate());
  }
});

const hasOpenssl = (() => {
  try {
    return new Deno.Command("openssl", { args: ["version"] }).outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "kubernetes PKI: OpenSSL accepts each leaf for its purpose under its CA's EKUs",
  ignore: !hasOpenssl,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const storage = new MemoryPkiStorage();
      for (const name of ["apiserver", "master", "front-proxy-client"] as ControllerCertName[]) {
        const p = CONTROLLER_PROFILES[name];
        const ca = kubeCA(storage, p.issuer);
        const k = await generateEd25519();
        await Deno.writeTextFile(`${dir}/ca.pem`, certificatePem(await ca.certificate()));
        await Deno.writeTextFile(
          `${dir}/leaf.pem`,
          certificatePem(await ca.ensure(name, p.template, k.publicKey)),
        );
        const purpose = name === "apiserver" ? "sslserver" : "sslclient";
        const out = await new Deno.Command("openssl", {
          args: ["verify", "-purpose", purpose, "-CAfile", `${dir}/ca.pem`, `${dir}/leaf.pem`],
        }).output();
        const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        assert.ok(out.success, `${name}: ${text}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
