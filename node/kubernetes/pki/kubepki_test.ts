import assert from "node:assert/strict";
import {
  importPkcs8Pem,
  MemoryPkiStorage,
  parseCertificate,
  pemDecode,
  verifyChain,
} from "../../base/pki/mod.ts";
import { KubernetesPKI, SERVICE_ACCOUNT_KEY } from "./kubepki.ts";
import { writeComponentFiles } from "./files.ts";

Deno.test("controller PKI: two controllers on one store share the same keys and certificates", async () => {
  const storage = new MemoryPkiStorage();
  const a = new KubernetesPKI(storage);
  const b = new KubernetesPKI(storage);
  const [ia, ib] = await Promise.all([a.identity("apiserver"), b.identity("apiserver")]);
  assert.equal(ia.certPem, ib.certPem);
  assert.equal(ia.keyPem, ib.keyPem);
  assert.equal(await a.caPem("id-ca"), await b.caPem("id-ca"));
  const [sa, sb] = await Promise.all([a.serviceAccountKey(), b.serviceAccountKey()]);
  assert.equal(sa.keyPem, sb.keyPem);
  // Stored where kubernetes.md §4 says.
  assert.ok(storage.data.has("keys/apiserver-privkey.bin"));
  assert.ok(storage.data.has("issued/apiserver-cert.der"));
  assert.ok(storage.data.has("issued/id-ca-cert.der"));
  assert.ok(storage.data.has(SERVICE_ACCOUNT_KEY));
  // A third instance later (a restarted controller) reads the same material back.
  const c = new KubernetesPKI(storage);
  assert.equal((await c.identity("apiserver")).certPem, ia.certPem);
  assert.equal((await c.serviceAccountKey()).pubPem, sa.pubPem);
});

Deno.test("controller PKI: identities chain to the CA of their profile and match their keys", async () => {
  const pki = new KubernetesPKI(new MemoryPkiStorage());
  const idCa = pemDecode(await pki.caPem("id-ca"), "CERTIFICATE");
  const aggCa = pemDecode(await pki.caPem("aggregation-ca"), "CERTIFICATE");
  const master = await pki.identity("master");
  const info = await verifyChain(pemDecode(master.certPem, "CERTIFICATE"), idCa);
  assert.deepEqual(info.organization, ["system:masters"]);
  const keys = await importPkcs8Pem(master.keyPem);
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey));
  assert.deepEqual(info.publicKey, raw);
  const front = await pki.identity("front-proxy-client");
  await verifyChain(pemDecode(front.certPem, "CERTIFICATE"), aggCa);
  await assert.rejects(verifyChain(pemDecode(front.certPem, "CERTIFICATE"), idCa));
  const sa = await pki.serviceAccountKey();
  assert.equal(
    (await importPkcs8Pem(sa.keyPem, "RSA")).privateKey.algorithm.name,
    "RSASSA-PKCS1-v1_5",
  );
  assert.match(sa.pubPem, /^-----BEGIN PUBLIC KEY-----/);
  assert.equal(parseCertificate(idCa).isCA, true);
});

Deno.test("controller PKI: a component kubeconfig names 127.0.0.1:6443, id-ca and the identity", async () => {
  const pki = new KubernetesPKI(new MemoryPkiStorage());
  const kc = JSON.parse(await pki.kubeconfig("scheduler-client"));
  assert.equal(kc.clusters[0].cluster.server, "https://127.0.0.1:6443");
  assert.equal(
    atob(kc.clusters[0].cluster["certificate-authority-data"]),
    await pki.caPem("id-ca"),
  );
  const cert = atob(kc.users[0].user["client-certificate-data"]);
  assert.equal(cert, (await pki.identity("scheduler-client")).certPem);
  const info = parseCertificate(pemDecode(cert, "CERTIFICATE"));
  assert.deepEqual(info.commonNames, ["system:kube-scheduler"]);
});

Deno.test("controller PKI: a failed storage call is retried by the next caller", async () => {
  const storage = new MemoryPkiStorage();
  let fail = true;
  const flaky = {
    get: (k: string) => storage.get(k),
    put: (k: string, v: Uint8Array) => storage.put(k, v),
    createIfAbsent: (k: string, v: Uint8Array) => {
      if (fail) return Promise.reject(new Error("etcd unavailable"));
      return storage.createIfAbsent(k, v);
    },
  };
  const pki = new KubernetesPKI(flaky);
  await assert.rejects(pki.identity("scheduler"), /etcd unavailable/);
  fail = false;
  assert.match((await pki.identity("scheduler")).certPem, /BEGIN CERTIFICATE/);
});

Deno.test("component files: directory 0700, files 0600, content replaced", async () => {
  const base = await Deno.makeTempDir();
  try {
    const dir = `${base}/kubernetes/scheduler`;
    await writeComponentFiles(dir, { "a.key": "one" });
    await writeComponentFiles(dir, { "a.key": "two", "b.crt": "x" });
    assert.equal(await Deno.readTextFile(`${dir}/a.key`), "two");
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(`${dir}/a.key`)).mode! & 0o777, 0o600);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["a.key", "b.crt"]);
    await assert.rejects(writeComponentFiles(dir, { "../x": "" }), /bad name/);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
